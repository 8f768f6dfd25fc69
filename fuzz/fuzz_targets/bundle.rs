//! Any bytes as a bundle: opening, listing, looking up, decoding and
//! verifying either fail with an error or work, never panic or allocate
//! without bound. Seeds are real bundles, so mutations reach the catalog,
//! dictionary and delta decoders behind the checksums only when the
//! fuzzer also fixes the checksums up — hence the second half: the
//! checksums are recomputed before decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn exercise(data: &[u8]) {
    let Ok(b) = btfkit_bundle::Bundle::parse(data) else {
        return;
    };
    let keys: Vec<(String, String, String, String)> = b
        .entries()
        .map(|e| (e.distro.into(), e.version.into(), e.arch.into(), e.release.into()))
        .collect();
    for (d, v, a, r) in &keys {
        if let Some(e) = b.find(d, v, a, r) {
            let _ = b.get(&e);
        }
    }
    let _ = b.find_key("a/b/c/d");
    let _ = b.verify();
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    // Re-seal the header and file checksums so damage inside reaches the
    // decoders.
    if data.len() >= 80 && &data[..8] == b"BTFKITBN" {
        let mut d = data.to_vec();
        let file = xxhash_rust::xxh3::xxh3_64(&d[80..]);
        d[64..72].copy_from_slice(&file.to_le_bytes());
        let head = xxhash_rust::xxh3::xxh3_64(&d[..72]);
        d[72..80].copy_from_slice(&head.to_le_bytes());
        exercise(&d);
    }
});
