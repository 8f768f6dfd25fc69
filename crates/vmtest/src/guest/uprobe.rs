//! The userspace CO-RE demo in the guest: the one uprobe object reads
//! `struct app_data` right in either version of the application, with
//! the kernel's BTF (sysfs) merged with the application's.

use std::path::Path;
use std::process::Command;

use btfkit_tracer::uprobe::{probe, target_btf};

use crate::{Outcome, SYSFS_BTF};

const EXPECTED_OUTPUT: &str = "process_data: id=42 value=1234567 name=btfkit\n";

pub(crate) fn check(app: &str) -> Outcome {
    let app = Path::new(app);
    let kernel = btfkit_btf::load::load_btf_file(SYSFS_BTF)
        .map_err(|e| format!("{SYSFS_BTF}: {e}"))?
        .into_vec();
    let target = target_btf(app, &kernel).map_err(|e| e.to_string())?;
    let seen = probe(app, &target, || {
        let out = Command::new(app).output()?;
        if !out.status.success() || out.stdout != EXPECTED_OUTPUT.as_bytes() {
            return Err(std::io::Error::other(format!(
                "{}: {} {:?}",
                app.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let want = (1, 42, 1234567, "btfkit");
    let got = (seen.hits, seen.id, seen.value, seen.name.as_str());
    if got != want {
        return Err(format!("probe read {got:?}, expected {want:?}"));
    }
    Ok(format!(
        "probe read id={} value={} name={:?} ({} bytes of target BTF)",
        seen.id,
        seen.value,
        seen.name,
        target.len()
    ))
}
