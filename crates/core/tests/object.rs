//! The BPF object reader on clang output.

use btfkit_core::BpfObject;
use btfkit_testutil as tu;

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(tu::workspace_root().join(rel)).unwrap()
}

#[test]
fn programs_sections_and_subprograms() {
    let data = read("testdata/core/progs/subprogs.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let progs: Vec<(&str, &str, bool, bool)> = obj
        .programs()
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.section_name.as_str(),
                p.is_subprog,
                p.autoload,
            )
        })
        .collect();
    assert_eq!(
        progs,
        vec![
            ("global_sub", ".text", true, true),
            ("read_l", ".text", true, true),
            ("sub_caller", "raw_tp/sys_enter", false, true),
            ("sub_caller_too", "raw_tp/sys_exit", false, true),
            ("not_autoloaded", "raw_tp/sys_enter", false, false),
        ]
    );
    let text = obj.section_by_name(".text").unwrap();
    let global = &obj.programs()[0];
    assert!(
        global.global && !obj.programs()[1].global,
        "global_sub is global, read_l static"
    );
    // Program lookup by instruction, and instruction decoding.
    let last = global.insn_off + global.insn_cnt - 1;
    assert_eq!(obj.program_at(text.index, last).unwrap().name, "global_sub");
    assert_eq!(obj.insn(text, last).unwrap().code, 0x95, "ends with exit");
    assert!(obj.program_at(text.index, 100_000).is_none());
    assert_eq!(obj.license(), Some("GPL"));
}

#[test]
fn several_programs_per_section_and_btf_ext_blocks() {
    let data = read("testdata/core/progs/fields.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let names: Vec<&str> = obj.programs().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fields_read",
            "fields_direct",
            "fields_meta",
            "fields_typedefs",
            "fields_ptr_as_array"
        ]
    );
    assert!(obj
        .programs()
        .windows(2)
        .all(|w| w[0].insn_off + w[0].insn_cnt <= w[1].insn_off));
    let ext = obj.btf_ext().unwrap();
    let funcs: usize = ext.func_info.iter().map(|g| g.func_infos().len()).sum();
    assert_eq!(funcs, 5, "one func_info per program");
    let lines: usize = ext.line_info.iter().map(|g| g.line_infos().len()).sum();
    assert!(lines > 20);
    // func_info points at FUNC types named like the programs.
    for g in &ext.func_info {
        for fi in g.func_infos() {
            let t = obj.btf().type_by_id(fi.type_id).unwrap();
            assert_eq!(t.kind(), btfkit_btf::Kind::Func);
            let name = obj.btf().name_of(&t).unwrap();
            assert!(names.contains(&name), "{name}");
        }
    }
    assert!(ext.core_relo_count() > 40);
}

#[test]
fn maps_and_license_of_a_clang_object() {
    let Some(o) = tu::bpf_objects()
        .into_iter()
        .find(|o| o.label.starts_with("layouts") && o.label.ends_with("bpfel"))
    else {
        return;
    };
    let data = std::fs::read(&o.path).unwrap();
    let obj = BpfObject::parse(&data).unwrap();
    let maps: Vec<&str> = obj.maps().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(maps, ["nested_map", "events"]);
    assert_eq!(obj.license(), Some("GPL"));
    assert_eq!(obj.programs().len(), 1);
    assert_eq!(
        obj.programs()[0].section_name,
        "tracepoint/syscalls/sys_enter_execve"
    );
}
