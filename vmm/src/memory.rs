//! Guest RAM: host mappings and their KVM memory slots.

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{Address, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

/// Guest RAM as ovmm maps it.
pub type GuestMemory = vm_memory::GuestMemoryMmap<()>;

/// Failures while creating or registering guest RAM.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The host could not map the RAM.
    #[error("cannot map {size} MiB of guest memory: {source}")]
    Map {
        /// Total size asked for, in MiB.
        size: u64,
        /// The mapping error.
        #[source]
        source: vm_memory::mmap::FromRangesError,
    },
    /// KVM refused a memory slot.
    #[error("KVM refused memory slot {slot} ({size:#x} bytes at {gpa:#x}): {source}")]
    Slot {
        /// Slot number.
        slot: u32,
        /// Guest physical address.
        gpa: u64,
        /// Size in bytes.
        size: u64,
        /// KVM's error.
        #[source]
        source: kvm_ioctls::Error,
    },
}

/// Maps anonymous host memory for each `(guest address, size)` region.
pub fn create(regions: &[(GuestAddress, u64)]) -> Result<GuestMemory, MemoryError> {
    let ranges: Vec<(GuestAddress, usize)> =
        regions.iter().map(|&(a, s)| (a, s as usize)).collect();
    GuestMemory::from_ranges(&ranges).map_err(|source| MemoryError::Map {
        size: regions.iter().map(|r| r.1).sum::<u64>() >> 20,
        source,
    })
}

/// Registers every region of `mem` with KVM, using slots from `first_slot` on.
/// Returns the next free slot.
pub fn register(vm: &VmFd, mem: &GuestMemory, first_slot: u32) -> Result<u32, MemoryError> {
    let mut slot = first_slot;
    for region in mem.iter() {
        let r = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: region.start_addr().raw_value(),
            memory_size: region.len(),
            userspace_addr: region.as_ptr() as u64,
        };
        // SAFETY: the host range belongs to `mem`'s mmap, which outlives the VM file
        // descriptor in ovmm's Vm (fields drop in order: the VmFd is dropped first).
        unsafe { vm.set_user_memory_region(r) }.map_err(|source| MemoryError::Slot {
            slot,
            gpa: r.guest_phys_addr,
            size: r.memory_size,
            source,
        })?;
        slot += 1;
    }
    Ok(slot)
}
