//! End-to-end tests in the x86 lab: one test per scenario in `resources/lab/scenarios/x86/`, all
//! sharing a single lab run (the first test to get here starts it; the others wait for it).
//! Needs QEMU and the Debian archive; see `resources/lab/setup-host.sh`. Environment knobs are
//! documented on `ovmm_tests::lab::for_arch`.

use std::sync::OnceLock;

use ovmm_tests::lab::{self, LabReport};

fn lab_run() -> &'static Result<LabReport, String> {
    static RUN: OnceLock<Result<LabReport, String>> = OnceLock::new();
    RUN.get_or_init(|| {
        let result = lab::x86().run(SCENARIOS).map_err(|e| e.to_string());
        if let Ok(report) = &result {
            eprint!("{}", report.summary());
        }
        result
    })
}

fn check(name: &str) {
    match lab_run() {
        Err(e) => panic!("the x86 lab could not run: {e}"),
        Ok(report) => {
            if let Err(msg) = report.check(name) {
                panic!("{msg}");
            }
        }
    }
}

// One `test_name => "scenario-name",` line per scenario: makes the test and adds the scenario to
// SCENARIOS, the list the shared lab run runs.
macro_rules! scenario_tests {
    ($($test:ident => $name:literal,)*) => {
        /// Every x86 scenario; each has a test.
        const SCENARIOS: &[&str] = &[$($name),*];

        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        #[test]
        fn every_scenario_file_has_a_test() {
            let files = lab::x86().scenarios().expect("scenario files");
            let mut on_disk: Vec<&str> = files.iter().map(|s| s.name.as_str()).collect();
            let mut listed = SCENARIOS.to_vec();
            on_disk.sort_unstable();
            listed.sort_unstable();
            assert_eq!(listed, on_disk, "scenario files and tests differ");
        }
    };
}

scenario_tests! {
    boot_1cpu => "boot-1cpu",
    boot_2cpus => "boot-2cpus",
    memory_256m => "memory-256m",
    memory_2g => "memory-2g",
    poweroff => "poweroff",
    exit_code => "exit-code",
    reboot_no_reboot => "reboot-no-reboot",
    reboot_restart => "reboot-restart",
    stdin_shell => "stdin-shell",
    timeout => "timeout",
    timeout_idle => "timeout-idle",
    sigterm_idle => "sigterm-idle",
    corrupt_kernel => "corrupt-kernel",
    missing_initrd => "missing-initrd",
    rtc => "rtc",
    vfio_managed => "vfio-managed",
    vfio_reboot => "vfio-reboot",
    host_tools => "host-tools",
    vfio_large_bar => "vfio-large-bar",
    vfio_ids_rom => "vfio-ids-rom",
    vfio_error_missing => "vfio-error-missing",
    vfio_error_not_bound => "vfio-error-not-bound",
    vfio_error_group => "vfio-error-group",
    vfio_error_permission => "vfio-error-permission",
    vfio_error_memlock => "vfio-error-memlock",
    vfio_edu_msi => "vfio-edu-msi",
    vfio_edu_intx => "vfio-edu-intx",
    vfio_e1000e_msix => "vfio-e1000e-msix",
    vfio_e1000e_intx => "vfio-e1000e-intx",
    vfio_e1000_intx => "vfio-e1000-intx",
    vfio_two_devices => "vfio-two-devices",
    vfio_twice => "vfio-twice",
    vfio_boot_time => "vfio-boot-time",
    vfio_romfile => "vfio-romfile",
    vfio_group_pair => "vfio-group-pair",
    vfio_reset => "vfio-reset",
    pci_mmio64_size => "pci-mmio64-size",
    acpi_table => "acpi-table",
    vfio_reboot_20 => "vfio-reboot-20",
    vfio_multifunction => "vfio-multifunction",
    vfio_reset_flr => "vfio-reset-flr",
    vfio_large_bar_boot_time => "vfio-large-bar-boot-time",
    api_power_off => "api-power-off",
    api_pause_resume => "api-pause-resume",
    api_malformed => "api-malformed",
    api_devices => "api-devices",
    virtio_errors => "virtio-errors",
    virtio_blk_root => "virtio-blk-root",
    virtio_blk_readonly => "virtio-blk-readonly",
    virtio_intx => "virtio-intx",
    virtio_net_tap => "virtio-net-tap",
    virtio_disk_vfio => "virtio-disk-vfio",
}
