//! CPUID for each vCPU: KVM's supported set (`Kvm::get_supported_cpuid`) adjusted to one
//! consistent topology — 1 socket, `nr_vcpus` cores, 1 thread per core, APIC id = vCPU index
//! — with the hypervisor bit on and the host's power-management and performance-monitoring
//! leaves hidden.
//!
//! Intel guests read the topology from leaves 1, 4 and 0xB/0x1F; AMD guests from leaves 1,
//! 0xB (when present), 0x8000_0001 (CmpLegacy), 0x8000_0008 (NC, ApicIdSize),
//! 0x8000_001D (cache sharing) and 0x8000_001E (core and node ids). Every leaf that KVM
//! reports is fixed in place; none is added.

use kvm_bindings::{kvm_cpuid_entry2, CpuId};

/// The CPU vendor, from leaf 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// "GenuineIntel".
    Intel,
    /// "AuthenticAMD" or "HygonGenuine" (Hygon follows AMD's topology leaves).
    Amd,
    /// Anything else: only the vendor-neutral leaves are adjusted.
    Other,
}

/// Leaf 1 ECX: perfmon and debug capability (IA32_PERF_CAPABILITIES).
const LEAF1_ECX_PDCM: u32 = 1 << 15;
/// Leaf 1 ECX: TSC deadline timer.
const LEAF1_ECX_TSC_DEADLINE: u32 = 1 << 24;
/// Leaf 1 ECX: running under a hypervisor.
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX: more than one logical processor per package.
const LEAF1_EDX_HTT: u32 = 1 << 28;
/// CLFLUSH line size in leaf 1 EBX[15:8], in 8-byte units: 64 bytes.
const CLFLUSH_LINE_UNITS: u32 = 8;
/// Leaf 6 EAX: the APIC timer keeps running in deep C-states (the only bit kept).
const LEAF6_EAX_ARAT: u32 = 1 << 2;
/// Leaf 0x8000_0001 ECX: core multi-processing legacy mode.
const EXT1_ECX_CMP_LEGACY: u32 = 1 << 1;
/// Topology level type (leaves 0xB/0x1F ECX[15:8]): SMT.
const LEVEL_SMT: u32 = 1;
/// Topology level type: core.
const LEVEL_CORE: u32 = 2;

/// Adjusts `cpuid` (KVM's supported CPUID) for vCPU `vcpu_id` of `nr_vcpus` (at least 1).
///
/// Sets the TSC-deadline bit: ovmm always runs with KVM's in-kernel local APIC, which
/// emulates it (`KVM_CAP_TSC_DEADLINE_TIMER`, every x86 KVM since Linux 3.2), though KVM does
/// not list it as supported.
pub fn configure_cpuid(cpuid: &mut CpuId, vcpu_id: u8, nr_vcpus: u8) {
    let topo = Topology::new(vcpu_id, nr_vcpus);
    let vendor = vendor(cpuid);
    for entry in cpuid.as_mut_slice() {
        match entry.function {
            0x1 => leaf_1(entry, &topo),
            0x4 if vendor == Vendor::Intel => cache_sharing(entry, &topo, true),
            0x6 => leaf_6(entry),
            0xa => zero(entry),
            0xb | 0x1f => extended_topology(entry, &topo),
            0x8000_0001 if vendor == Vendor::Amd => amd_cmp_legacy(entry, &topo),
            0x8000_0008 if vendor == Vendor::Amd => amd_core_count(entry, &topo),
            0x8000_001d if vendor == Vendor::Amd => cache_sharing(entry, &topo, false),
            0x8000_001e if vendor == Vendor::Amd => amd_core_ids(entry, &topo),
            _ => {}
        }
    }
}

/// The vendor named by leaf 0 of `cpuid`.
pub fn vendor(cpuid: &CpuId) -> Vendor {
    let Some(leaf0) = cpuid.as_slice().iter().find(|e| e.function == 0) else {
        return Vendor::Other;
    };
    let mut name = [0u8; 12];
    name[..4].copy_from_slice(&leaf0.ebx.to_le_bytes());
    name[4..8].copy_from_slice(&leaf0.edx.to_le_bytes());
    name[8..].copy_from_slice(&leaf0.ecx.to_le_bytes());
    match &name {
        b"GenuineIntel" => Vendor::Intel,
        b"AuthenticAMD" | b"HygonGenuine" => Vendor::Amd,
        _ => Vendor::Other,
    }
}

/// The guest's topology as the CPUID fields want it.
struct Topology {
    apic_id: u32,
    cores: u32,
    /// Bits of the APIC id that number the cores: ceil(log2(cores)).
    core_bits: u32,
}

impl Topology {
    fn new(vcpu_id: u8, nr_vcpus: u8) -> Self {
        let cores = u32::from(nr_vcpus.max(1));
        Topology {
            apic_id: u32::from(vcpu_id),
            cores,
            core_bits: u32::BITS - (cores - 1).leading_zeros(),
        }
    }
}

/// Leaf 1: APIC id, logical processor count, CLFLUSH size, HTT, hypervisor, TSC deadline;
/// PDCM off with the PMU.
fn leaf_1(entry: &mut kvm_cpuid_entry2, topo: &Topology) {
    let brand_index = entry.ebx & 0xff;
    entry.ebx = (topo.apic_id << 24) | (topo.cores << 16) | (CLFLUSH_LINE_UNITS << 8) | brand_index;
    entry.ecx |= LEAF1_ECX_HYPERVISOR | LEAF1_ECX_TSC_DEADLINE;
    entry.ecx &= !LEAF1_ECX_PDCM;
    set_bit(&mut entry.edx, LEAF1_EDX_HTT, topo.cores > 1);
}

/// Deterministic cache parameters (Intel leaf 4, AMD 0x8000_001D): L1 and L2 belong to one
/// core (one thread), L3 to the whole package. Leaf 4 also carries cores-per-package.
fn cache_sharing(entry: &mut kvm_cpuid_entry2, topo: &Topology, cores_field: bool) {
    let cache_type = entry.eax & 0x1f;
    if cache_type == 0 {
        return;
    }
    let level = (entry.eax >> 5) & 0x7;
    let sharing = if level >= 3 { topo.cores } else { 1 };
    entry.eax = (entry.eax & !(0xfff << 14)) | (((sharing - 1) & 0xfff) << 14);
    if cores_field {
        entry.eax = (entry.eax & !(0x3f << 26)) | (((topo.cores - 1).min(0x3f)) << 26);
    }
}

/// Thermal and power management: keep only ARAT; no turbo, HWP, energy-bias or thermal
/// sensor, which need MSRs KVM does not provide.
fn leaf_6(entry: &mut kvm_cpuid_entry2) {
    entry.eax &= LEAF6_EAX_ARAT;
    entry.ebx = 0;
    entry.ecx = 0;
    entry.edx = 0;
}

fn zero(entry: &mut kvm_cpuid_entry2) {
    entry.eax = 0;
    entry.ebx = 0;
    entry.ecx = 0;
    entry.edx = 0;
}

/// Extended topology (0xB, V2 0x1F): level 0 = SMT (1 thread), level 1 = core (`cores`
/// logical processors), higher levels invalid; EDX = x2APIC id on every sub-leaf.
fn extended_topology(entry: &mut kvm_cpuid_entry2, topo: &Topology) {
    let level = entry.index;
    let (shift, count, kind) = match level {
        0 => (0, 1, LEVEL_SMT),
        1 => (topo.core_bits, topo.cores, LEVEL_CORE),
        _ => (0, 0, 0),
    };
    entry.eax = shift;
    entry.ebx = count;
    entry.ecx = (kind << 8) | (level & 0xff);
    entry.edx = topo.apic_id;
}

/// AMD 0x8000_0001 ECX CmpLegacy: set when the package has more than one core (with HTT,
/// it says leaf 1's count is cores, not threads).
fn amd_cmp_legacy(entry: &mut kvm_cpuid_entry2, topo: &Topology) {
    set_bit(&mut entry.ecx, EXT1_ECX_CMP_LEGACY, topo.cores > 1);
}

/// AMD 0x8000_0008 ECX: NC = cores - 1 (bits 7:0), ApicIdSize = core bits (15:12); the
/// performance-TSC size (17:16) is kept.
fn amd_core_count(entry: &mut kvm_cpuid_entry2, topo: &Topology) {
    entry.ecx = (entry.ecx & (0x3 << 16)) | (topo.core_bits << 12) | ((topo.cores - 1) & 0xff);
}

/// AMD 0x8000_001E: extended APIC id; core id = APIC id with one thread per core; one node.
fn amd_core_ids(entry: &mut kvm_cpuid_entry2, topo: &Topology) {
    entry.eax = topo.apic_id;
    entry.ebx = topo.apic_id & 0xff;
    entry.ecx = 0;
    entry.edx = 0;
}

fn set_bit(reg: &mut u32, bit: u32, on: bool) {
    if on {
        *reg |= bit;
    } else {
        *reg &= !bit;
    }
}

#[cfg(test)]
mod tests;
