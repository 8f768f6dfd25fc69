//! What global loads read at verification time.
//!
//! libbpf freezes `.rodata` and `.kconfig` before loading, so the verifier
//! knows their values: `const volatile` globals as userspace set them
//! (pinned here with `NAME=VALUE`, otherwise unknown load-time constants),
//! `.kconfig` externs from the kernel's config and version. Writable
//! sections (`.data`, `.bss`) are run-time values.

use std::collections::HashMap;

use btfkit_btf::{Endian, TypeData};

use super::interp::Val;
use super::layout::{ProgramLayout, Region};
use crate::object::BpfObject;

/// One `CONFIG_*` value as libbpf reads it for an extern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KconfigValue {
    /// `y` (1), `m` (2); `n` is 0.
    Tristate(u8),
    /// A number (`CONFIG_N=12`, `CONFIG_N=0x10`); negative values are
    /// stored two's-complement.
    Int(u64),
    /// A quoted string (`CONFIG_S="s"`), without its quotes.
    Str(String),
}

/// A kernel's `.config`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kconfig(HashMap<String, KconfigValue>);

impl Kconfig {
    /// Parses `.config` text (`CONFIG_X=y`, `CONFIG_N=12`, `CONFIG_S="s"`,
    /// `# CONFIG_X is not set`); other lines are ignored.
    pub fn parse(text: &str) -> Kconfig {
        let mut m = HashMap::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    m.insert(name.to_string(), KconfigValue::Tristate(0));
                }
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if !k.starts_with("CONFIG_") {
                continue;
            }
            let v = match v {
                "y" => KconfigValue::Tristate(1),
                "m" => KconfigValue::Tristate(2),
                "n" => KconfigValue::Tristate(0),
                s if s.starts_with('"') => KconfigValue::Str(s.trim_matches('"').to_string()),
                s => match parse_int(s) {
                    Some(n) => KconfigValue::Int(n),
                    None => continue,
                },
            };
            m.insert(k.to_string(), v);
        }
        Kconfig(m)
    }

    /// The value of option `name` (with its `CONFIG_` prefix); `None`
    /// when the config does not mention it.
    pub fn get(&self, name: &str) -> Option<&KconfigValue> {
        self.0.get(name)
    }
}

/// Parses a decimal or `0x` hexadecimal integer, possibly negative.
pub fn parse_int(s: &str) -> Option<u64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse::<u64>().ok()?,
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

/// What is known of the load: the kernel's config and version, pinned
/// read-only globals.
#[derive(Clone, Debug, Default)]
pub struct LoadConfig {
    /// The kernel's config. With one, `CONFIG_*` externs it does not set
    /// read 0 (as libbpf leaves a `__weak` extern); without one, they are
    /// unknown load-time constants.
    pub kconfig: Option<Kconfig>,
    /// `LINUX_KERNEL_VERSION` (`KERNEL_VERSION(a, b, c)`), when known.
    pub kernel_version: Option<u32>,
    /// `const volatile` globals by name.
    pub rodata: Vec<(String, u64)>,
}

/// `KERNEL_VERSION(a, b, c)` of a release string (`5.4.0-1234-aws`), as
/// libbpf computes it (the sublevel saturates at 255).
pub fn kernel_version_of(release: &str) -> Option<u32> {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    let a = it.next()??;
    let b = it.next()??;
    let c = it.next().flatten().unwrap_or(0);
    Some((a << 16) + (b << 8) + c.min(255))
}

/// A global of a read-only section.
#[derive(Clone, Debug)]
struct Var {
    name: String,
    off: i64,
    size: u32,
    /// Global linkage: userspace may set it (a `const volatile` knob).
    global: bool,
}

#[derive(Clone, Debug)]
enum RegionValues {
    ReadOnly {
        vars: Vec<Var>,
        pins: HashMap<i64, u64>,
        bytes: Vec<u8>,
    },
    Writable,
    Kconfig(Val),
}

/// The values of an object's regions under a [`LoadConfig`].
#[derive(Clone, Debug)]
pub struct Bindings {
    regions: Vec<RegionValues>,
    endian: Endian,
}

impl Bindings {
    /// The value of every region of `layout` under `cfg`: `.rodata*`
    /// sections from the object's bytes and the pins (globals userspace may
    /// set are unknown load-time constants unless pinned), `.kconfig`
    /// externs from the config and kernel version, other sections unknown.
    pub fn new(obj: &BpfObject<'_>, layout: &ProgramLayout, cfg: &LoadConfig) -> Bindings {
        let regions = layout
            .regions
            .iter()
            .map(|r| match r {
                Region::Section(name) if name.starts_with(".rodata") => read_only(obj, name, cfg),
                Region::Section(_) => RegionValues::Writable,
                Region::Kconfig(name) => RegionValues::Kconfig(kconfig_value(name, cfg)),
            })
            .collect();
        Bindings {
            regions,
            endian: obj.endian(),
        }
    }

    /// A load of `size` bytes at `off` of `region`.
    pub fn load(&self, region: u32, off: i64, size: u32) -> Val {
        match self.regions.get(region as usize) {
            Some(RegionValues::Kconfig(v)) if off == 0 => *v,
            Some(RegionValues::ReadOnly { vars, pins, bytes }) => {
                let var = vars.iter().find(|v| {
                    off >= v.off && off.saturating_add(size as i64) <= v.off + v.size as i64
                });
                match var {
                    Some(v) if v.off == off && pins.contains_key(&off) => Val::Const(pins[&off]),
                    Some(v) if v.global => Val::Cfg,
                    _ => self.read(bytes, off, size),
                }
            }
            _ => Val::Top,
        }
    }

    fn read(&self, bytes: &[u8], off: i64, size: u32) -> Val {
        let Ok(start) = usize::try_from(off) else {
            return Val::Top;
        };
        let Some(b) = bytes.get(start..start.saturating_add(size as usize)) else {
            return Val::Top;
        };
        let mut v: u64 = 0;
        for (i, byte) in b.iter().enumerate() {
            let shift = match self.endian {
                Endian::Little => i * 8,
                Endian::Big => (b.len() - 1 - i) * 8,
            };
            v |= (*byte as u64) << shift;
        }
        Val::Const(v)
    }
}

/// The names of the read-only globals an object defines (what `NAME=VALUE`
/// pins can name).
pub fn rodata_names(obj: &BpfObject<'_>) -> Vec<String> {
    let btf = obj.btf();
    let mut out = Vec::new();
    for t in btf.types() {
        if let TypeData::Datasec(ds) = t.data() {
            if !btf.name_of(&t).is_ok_and(|n| n.starts_with(".rodata")) {
                continue;
            }
            for v in ds.iter() {
                if let Some(n) = btf
                    .type_by_id(v.type_id)
                    .ok()
                    .and_then(|vt| btf.name_of(&vt).ok().map(str::to_string))
                {
                    out.push(n);
                }
            }
        }
    }
    out
}

fn read_only(obj: &BpfObject<'_>, name: &str, cfg: &LoadConfig) -> RegionValues {
    let btf = obj.btf();
    let mut vars = Vec::new();
    for t in btf.types() {
        let TypeData::Datasec(ds) = t.data() else {
            continue;
        };
        if btf.name_of(&t).ok() != Some(name) {
            continue;
        }
        for v in ds.iter() {
            let Ok(vt) = btf.type_by_id(v.type_id) else {
                continue;
            };
            let TypeData::Var { linkage, .. } = vt.data() else {
                continue;
            };
            vars.push(Var {
                name: btf.name_of(&vt).unwrap_or("").to_string(),
                off: v.offset as i64,
                size: v.size,
                global: linkage != 0,
            });
        }
    }
    let pins = vars
        .iter()
        .filter_map(|v| {
            let (_, val) = cfg.rodata.iter().rev().find(|(n, _)| *n == v.name)?;
            let val = if v.size < 8 {
                val & ((1u64 << (v.size * 8)) - 1)
            } else {
                *val
            };
            Some((v.off, val))
        })
        .collect();
    let bytes = obj
        .section_by_name(name)
        .map(|s| s.data.to_vec())
        .unwrap_or_default();
    RegionValues::ReadOnly { vars, pins, bytes }
}

/// The value libbpf gives a `.kconfig` extern, or `Cfg` when unknown.
fn kconfig_value(name: &str, cfg: &LoadConfig) -> Val {
    if name == "LINUX_KERNEL_VERSION" {
        return cfg
            .kernel_version
            .map_or(Val::Cfg, |v| Val::Const(v as u64));
    }
    let Some(k) = &cfg.kconfig else {
        return Val::Cfg;
    };
    if !name.starts_with("CONFIG_") {
        return Val::Cfg;
    }
    match k.get(name) {
        // Absent: libbpf leaves a __weak extern zeroed.
        None => Val::Const(0),
        Some(KconfigValue::Tristate(t)) => Val::Const(*t as u64),
        Some(KconfigValue::Int(n)) => Val::Const(*n),
        Some(KconfigValue::Str(_)) => Val::Cfg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kconfig_and_versions() {
        let k = Kconfig::parse(
            "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_N=0x10\nCONFIG_S=\"x\"\n",
        );
        assert_eq!(k.get("CONFIG_A"), Some(&KconfigValue::Tristate(1)));
        assert_eq!(k.get("CONFIG_B"), Some(&KconfigValue::Tristate(2)));
        assert_eq!(k.get("CONFIG_C"), Some(&KconfigValue::Tristate(0)));
        assert_eq!(k.get("CONFIG_N"), Some(&KconfigValue::Int(16)));
        assert_eq!(k.get("CONFIG_S"), Some(&KconfigValue::Str("x".into())));
        assert_eq!(kernel_version_of("5.4.0-1234-aws"), Some(0x050400));
        assert_eq!(kernel_version_of("4.19.300"), Some(0x0413ff));
        assert_eq!(kernel_version_of("6.1"), Some(0x060100));
        assert_eq!(kernel_version_of("x"), None);
        let cfg = LoadConfig {
            kconfig: Some(k),
            kernel_version: None,
            rodata: vec![],
        };
        assert_eq!(kconfig_value("CONFIG_A", &cfg), Val::Const(1));
        assert_eq!(kconfig_value("CONFIG_Z", &cfg), Val::Const(0));
        assert_eq!(kconfig_value("LINUX_KERNEL_VERSION", &cfg), Val::Cfg);
    }
}
