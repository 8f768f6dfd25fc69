//! LZMA frames for the catalog and the dictionary.
//!
//! A frame is a raw LZMA1 stream with an end marker, using literal context,
//! literal position and position bits of 0 (the best for both the catalog's
//! short keys and BTF's mixed records on measured bundles, a few percent
//! below xz's defaults) and a dictionary the next power of two above the
//! decoded size. liblzma writes and reads such streams in the legacy
//! `.lzma` container, whose 13-byte header holds only those parameters and
//! an "unknown size" marker: the writer drops that header and the reader
//! rebuilds it from the decoded size the bundle header records. That saves
//! 13 bytes a frame on bundles whose point is to be small.

use liblzma::stream::{Action, LzmaOptions, Status, Stream};

/// lc=0, lp=0, pb=0 encoded as `(pb * 5 + lp) * 9 + lc`.
const PROPERTIES: u8 = 0;
/// liblzma's `LZMA_PRESET_EXTREME` flag.
const PRESET_EXTREME: u32 = 0x8000_0000;
const HEADER_LEN: usize = 13;

fn dict_size(raw_len: usize) -> u32 {
    (raw_len.max(4096).next_power_of_two()).min(1 << 30) as u32
}

fn header(raw_len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0xffu8; HEADER_LEN];
    h[0] = PROPERTIES;
    h[1..5].copy_from_slice(&dict_size(raw_len).to_le_bytes());
    h
}

/// Compresses `data`; the frame decodes with [`decompress`] given
/// `data.len()`.
pub fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut opts = LzmaOptions::new_preset(9 | PRESET_EXTREME)?;
    opts.literal_context_bits(0)
        .literal_position_bits(0)
        .position_bits(0)
        .dict_size(dict_size(data.len()));
    let mut s = Stream::new_lzma_encoder(&opts)?;
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        out.reserve(4096);
        let consumed = s.total_in() as usize;
        if s.process_vec(&data[consumed..], &mut out, Action::Finish)? == Status::StreamEnd {
            break;
        }
    }
    if out.len() < HEADER_LEN || out[..HEADER_LEN] != header(data.len()) {
        return Err(std::io::Error::other(
            "unexpected .lzma header from liblzma",
        ));
    }
    out.drain(..HEADER_LEN);
    Ok(out)
}

/// Decodes a frame that must yield exactly `raw_len` bytes. Memory grows
/// with the output actually produced, never past `raw_len`.
pub fn decompress(frame: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    // Writers store nothing at all for nothing.
    if frame.is_empty() && raw_len == 0 {
        return Ok(Vec::new());
    }
    // The decoder's own memory is its dictionary, at most 1 GiB here.
    let mut s = Stream::new_lzma_decoder(u64::from(dict_size(raw_len)) + (64 << 20))?;
    let mut input = header(raw_len).to_vec();
    input.extend_from_slice(frame);
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            if out.len() > raw_len {
                return Err(bad("decodes to more than its declared size"));
            }
            let room = (raw_len + 1 - out.len()).min(out.len().max(64 << 10));
            out.reserve_exact(room);
        }
        let consumed = s.total_in() as usize;
        let before = (consumed, out.len());
        let status = s
            .process_vec(&input[consumed..], &mut out, Action::Finish)
            .map_err(|e| bad(&format!("lzma: {e}")))?;
        if status == Status::StreamEnd {
            break;
        }
        if (s.total_in() as usize, out.len()) == before && out.len() < out.capacity() {
            return Err(bad("truncated lzma frame"));
        }
    }
    if out.len() != raw_len {
        return Err(bad(&format!(
            "decodes to {} bytes, {raw_len} declared",
            out.len()
        )));
    }
    if (s.total_in() as usize) != input.len() {
        return Err(bad("bytes after the end of the lzma frame"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let data: Vec<u8> = (0..20_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect();
        let z = compress(&data).unwrap();
        assert!(z.len() < data.len() / 10);
        assert_eq!(decompress(&z, data.len()).unwrap(), data);
        assert!(decompress(&z, data.len() - 1).is_err());
        assert!(decompress(&z, data.len() + 1).is_err());
        assert!(decompress(&z[..z.len() / 2], data.len()).is_err());
        let mut extra = z.clone();
        extra.push(0);
        assert!(decompress(&extra, data.len()).is_err());
        assert_eq!(decompress(&compress(&[]).unwrap(), 0).unwrap(), b"");
        for i in 0..z.len() {
            let mut d = z.clone();
            d[i] ^= 0x10;
            if let Ok(v) = decompress(&d, data.len()) {
                assert_eq!(v.len(), data.len());
            }
        }
    }
}
