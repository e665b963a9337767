//! End-to-end tests in the arm64 lab: one test per scenario in `resources/lab/scenarios/arm64/`,
//! all sharing a single lab run (the first test to get here starts it; the others wait for it).
//! L1 is QEMU TCG's virt board with EL2, GICv3 + ITS and an SMMUv3; a static aarch64 ovmm
//! (cross-built) boots Debian's arm64 kernel in it. Needs QEMU, the aarch64 cross compiler and
//! the Debian archive; see `resources/lab/setup-host.sh`. Environment knobs are documented on
//! `ovmm_tests::lab::for_arch`.

use std::sync::OnceLock;

use ovmm_tests::lab::{self, LabReport};

fn lab_run() -> &'static Result<LabReport, String> {
    static RUN: OnceLock<Result<LabReport, String>> = OnceLock::new();
    RUN.get_or_init(|| {
        let result = lab::arm64().run(SCENARIOS).map_err(|e| e.to_string());
        if let Ok(report) = &result {
            eprint!("{}", report.summary());
        }
        result
    })
}

fn check(name: &str) {
    match lab_run() {
        Err(e) => panic!("the arm64 lab could not run: {e}"),
        Ok(report) => {
            if let Err(msg) = report.check(name) {
                panic!("{msg}");
            }
        }
    }
}

// One `test_name => "scenario-name",` line per scenario: makes the test and adds the scenario to
// SCENARIOS, the list the shared lab run runs (in this order; scenarios that need the same L1
// share one boot).
macro_rules! scenario_tests {
    ($($test:ident => $name:literal,)*) => {
        /// Every arm64 scenario; each has a test.
        const SCENARIOS: &[&str] = &[$($name),*];

        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        #[test]
        fn every_scenario_file_has_a_test() {
            let files = lab::arm64().scenarios().expect("scenario files");
            let mut on_disk: Vec<&str> = files.iter().map(|s| s.name.as_str()).collect();
            let mut listed = SCENARIOS.to_vec();
            on_disk.sort_unstable();
            listed.sort_unstable();
            assert_eq!(listed, on_disk, "scenario files and tests differ");
        }
    };
}

scenario_tests! {
    kvm_vhe => "kvm-vhe",
    boot_1cpu => "boot-1cpu",
    boot_2cpus => "boot-2cpus",
    poweroff => "poweroff",
    exit_code => "exit-code",
    reboot_no_reboot => "reboot-no-reboot",
    reboot_restart => "reboot-restart",
    timeout => "timeout",
    stdin_shell => "stdin-shell",
    rtc => "rtc",
    corrupt_kernel => "corrupt-kernel",
    api_power_off => "api-power-off",
    api_pause_resume => "api-pause-resume",
    api_malformed => "api-malformed",
    vfio_edu_msi => "vfio-edu-msi",
    vfio_edu_intx => "vfio-edu-intx",
    vfio_e1000e_msix => "vfio-e1000e-msix",
    vfio_e1000e_intx => "vfio-e1000e-intx",
    vfio_large_bar => "vfio-large-bar",
    api_devices => "api-devices",
    kvm_nvhe => "kvm-nvhe",
}
