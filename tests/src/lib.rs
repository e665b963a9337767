//! ovmm's end-to-end test harness: builds the lab assets, boots the emulated host (QEMU TCG
//! with nested virtualization and an emulated IOMMU) and runs scenarios inside it.
//! See `resources/lab/` for the scripts and scenarios, and [`lab`] for the API.

pub mod lab;

/// Makes one `#[test]` per lab scenario, all sharing a single run of `$lab` (the first test to
/// get there starts it; the others wait for it), plus `every_scenario_file_has_a_test`, which
/// fails when a scenario file has no test line or a line has no file:
///
/// ```text
/// ovmm_tests::lab_scenario_tests!(ovmm_tests::lab::x86(), "x86";
///     boot_1cpu => "boot-1cpu",
///     poweroff => "poweroff",
/// );
/// ```
///
/// Scenarios run in the order given; those that need the same L1 share one boot.
#[macro_export]
macro_rules! lab_scenario_tests {
    ($lab:expr, $arch:literal; $($test:ident => $name:literal,)*) => {
        /// Every scenario of this lab; each has a test.
        const SCENARIOS: &[&str] = &[$($name),*];

        fn lab_run() -> &'static ::std::result::Result<$crate::lab::LabReport, String> {
            static RUN: ::std::sync::OnceLock<::std::result::Result<$crate::lab::LabReport, String>> =
                ::std::sync::OnceLock::new();
            RUN.get_or_init(|| {
                let result = $lab.run(SCENARIOS).map_err(|e| e.to_string());
                if let Ok(report) = &result {
                    eprint!("{}", report.summary());
                }
                result
            })
        }

        fn check(name: &str) {
            match lab_run() {
                Err(e) => panic!("the {} lab could not run: {e}", $arch),
                Ok(report) => {
                    if let Err(msg) = report.check(name) {
                        panic!("{msg}");
                    }
                }
            }
        }

        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        #[test]
        fn every_scenario_file_has_a_test() {
            let files = $lab.scenarios().expect("scenario files");
            let mut on_disk: Vec<&str> = files.iter().map(|s| s.name.as_str()).collect();
            let mut listed = SCENARIOS.to_vec();
            on_disk.sort_unstable();
            listed.sort_unstable();
            assert_eq!(listed, on_disk, "scenario files and tests differ");
        }
    };
}
