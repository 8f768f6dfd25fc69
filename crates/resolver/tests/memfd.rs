//! `SealedBtf`: the bytes read back through `/proc/self/fd/N`, and the
//! seals hold: no opener can write, grow or shrink them.

use std::io::Write;

use btfkit_resolver::SealedBtf;

#[test]
fn sealed_btf_reads_back_and_cannot_change() {
    let mut b = btfkit_btf::BtfBuilder::new();
    b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let bytes = b.finish();
    let sealed = SealedBtf::new(&bytes).unwrap();
    let path = sealed.path();
    assert!(path.starts_with("/proc/self/fd"), "{}", path.display());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    btfkit_btf::Btf::parse(&std::fs::read(&path).unwrap()).unwrap();
    // Writes through a new opening fail (F_SEAL_WRITE), as does resizing.
    let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    assert!(w.write_all(b"xxxx").is_err());
    assert!(w.set_len(0).is_err());
    assert!(w.set_len(bytes.len() as u64 + 1).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // Closed on exec unless handed on: the flag is cleared for exec.
    let fd = sealed.into_inherited().unwrap();
    let flags = rustix::io::fcntl_getfd(&fd).unwrap();
    assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC));
}
