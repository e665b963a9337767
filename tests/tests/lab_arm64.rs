//! End-to-end tests in the arm64 lab: one test per scenario in `resources/lab/scenarios/arm64/`,
//! all sharing a single lab run (the first test to get here starts it; the others wait for it).
//! L1 is QEMU TCG's virt board with EL2, GICv3 + ITS and an SMMUv3; a static aarch64 ovmm
//! (cross-built) boots Debian's arm64 kernel in it. Needs QEMU, the aarch64 cross compiler and
//! the Debian archive; see `resources/lab/setup-host.sh`. Environment knobs are documented on
//! `ovmm_tests::lab::for_arch`.

ovmm_tests::lab_scenario_tests! { ovmm_tests::lab::arm64(), "arm64";
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
    virtio_blk_root => "virtio-blk-root",
    virtio_blk_readonly => "virtio-blk-readonly",
    virtio_intx => "virtio-intx",
    virtio_net_tap => "virtio-net-tap",
    virtio_errors => "virtio-errors",
    virtio_disk_vfio => "virtio-disk-vfio",
}
