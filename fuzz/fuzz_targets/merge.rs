//! Two BTFs merged as `btfkit btf merge BASE X` merges them (the base's
//! types fixed, the other's deduplicated against it): the input is a
//! little-endian u32 length, that many bytes of base BTF, then the
//! other BTF. Must not panic; a merge that succeeds must parse.
#![no_main]

use btfkit_btf::Btf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (a, b) = rest.split_at(len);
    let (Ok(base), Ok(extra)) = (Btf::parse(a), Btf::parse(b)) else {
        return;
    };
    if let Ok((bytes, _added)) = btfkit_encode::merge(&base, &[extra]) {
        Btf::parse(&bytes).expect("merged BTF parses");
    }
});
