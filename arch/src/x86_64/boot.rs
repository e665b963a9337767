//! The Linux x86 boot protocol: the zero page (`boot_params`) with its setup header and e820
//! map, and where the initrd goes.
//!
//! The caller loads the kernel (linux-loader), the command line and the initrd, then hands
//! their places to [`configure_system`] in a [`BootConfig`].

use linux_loader::loader::bootparam::{boot_e820_entry, boot_params, setup_header, LOADED_HIGH};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryError};

use super::layout::{
    CMDLINE_MAX_SIZE, DEFAULT_INITRD_ADDR_MAX, EBDA_START, HIMEM_START, ZERO_PAGE_START,
};

/// e820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 type: reserved, not RAM.
pub const E820_RESERVED: u32 = 2;

/// `boot_flag` of a valid setup header.
const BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// `header` of a valid setup header: "HdrS".
const HDRS_MAGIC: u32 = 0x5372_6448;
/// Kernel alignment stated in the default header (16 MiB, as bzImages say).
const DEFAULT_KERNEL_ALIGNMENT: u32 = 0x100_0000;
/// `type_of_loader`: a boot loader without an assigned id.
const LOADER_TYPE_UNDEFINED: u8 = 0xff;
/// First boot protocol version whose header states `cmdline_size` (2.06).
const PROTOCOL_WITH_CMDLINE_SIZE: u16 = 0x0206;
/// Page size used to align the initrd.
const PAGE_SIZE: u64 = 0x1000;
/// Number of e820 entries that fit in the zero page.
const E820_MAX_ENTRIES: usize = 128;

/// Errors of the boot protocol and boot CPU set-up.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The RAM list has no region starting at 0.
    #[error("no low RAM region: the first RAM region must start at 0, got {0:?}")]
    NoLowRam(Option<(u64, u64)>),
    /// An empty initrd was given.
    #[error("the initrd is empty (0 bytes)")]
    EmptyInitrd,
    /// The initrd does not fit between the kernel and its highest allowed address.
    #[error(
        "initrd of {size} bytes does not fit between the kernel end {lowest:#x} and \
         {highest:#x} (top of low RAM or the kernel's initrd_addr_max)"
    )]
    InitrdDoesNotFit {
        /// Initrd size in bytes.
        size: u64,
        /// Lowest allowed start (page-aligned kernel end).
        lowest: u64,
        /// End of the allowed area (exclusive).
        highest: u64,
    },
    /// The command line is longer than the kernel or ovmm's buffer accepts.
    #[error("kernel command line of {len} bytes is longer than the {max} bytes {limit} accepts")]
    CmdlineTooLong {
        /// Bytes in the command line, without the terminating NUL.
        len: u64,
        /// The limit.
        max: u64,
        /// Who sets the limit.
        limit: &'static str,
    },
    /// More RAM regions than the zero page's e820 table holds.
    #[error("{0} e820 entries do not fit in the zero page (at most {E820_MAX_ENTRIES})")]
    TooManyE820Entries(usize),
    /// Writing a boot structure into guest memory failed.
    #[error("cannot write the {what} at {addr:#x}: {source}")]
    GuestMemory {
        /// The structure.
        what: &'static str,
        /// Where it goes.
        addr: u64,
        /// Why it failed.
        #[source]
        source: GuestMemoryError,
    },
}

impl BootError {
    /// Wraps a guest-memory error with the structure and address it was about.
    pub(crate) fn memory(
        what: &'static str,
        addr: GuestAddress,
    ) -> impl Fn(GuestMemoryError) -> Self {
        move |source| BootError::GuestMemory {
            what,
            addr: addr.0,
            source,
        }
    }
}

/// What [`configure_system`] writes into the zero page.
#[derive(Clone, Debug, Default)]
pub struct BootConfig {
    /// The kernel's setup header when it came from a bzImage (linux-loader's
    /// `KernelLoaderResult::setup_header`); `None` for an ELF vmlinux.
    pub setup_header: Option<setup_header>,
    /// Where the command line was written (normally [`super::layout::CMDLINE_START`]).
    pub cmdline_addr: GuestAddress,
    /// Size of the command line in bytes, including the terminating NUL (as written by
    /// `linux_loader::loader::load_cmdline`).
    pub cmdline_size: usize,
    /// Address and size of the loaded initrd, if any.
    pub initrd: Option<(GuestAddress, u64)>,
    /// Address of the ACPI RSDP, if ACPI tables were written.
    pub rsdp: Option<GuestAddress>,
    /// Guest RAM, as from [`super::layout::ram_regions`].
    pub ram_regions: Vec<(GuestAddress, u64)>,
}

/// Picks the initrd's load address: page-aligned and as high as possible in the low RAM
/// region, ending at or below `initrd_addr_max` (the setup header's highest allowed byte;
/// [`DEFAULT_INITRD_ADDR_MAX`] when `None`) and starting at or above the page-aligned
/// `kernel_end`.
pub fn initrd_address(
    ram: &[(GuestAddress, u64)],
    kernel_end: GuestAddress,
    initrd_size: u64,
    initrd_addr_max: Option<u32>,
) -> Result<GuestAddress, BootError> {
    if initrd_size == 0 {
        return Err(BootError::EmptyInitrd);
    }
    let low_end = low_ram_end(ram)?;
    let addr_max = u64::from(initrd_addr_max.unwrap_or(DEFAULT_INITRD_ADDR_MAX));
    let highest = low_end.min(addr_max.saturating_add(1));
    let lowest = align_up(kernel_end.0.max(HIMEM_START.0), PAGE_SIZE);
    let does_not_fit = BootError::InitrdDoesNotFit {
        size: initrd_size,
        lowest,
        highest,
    };
    let start = match highest.checked_sub(initrd_size) {
        Some(top_start) => top_start & !(PAGE_SIZE - 1),
        None => return Err(does_not_fit),
    };
    if start < lowest {
        return Err(does_not_fit);
    }
    Ok(GuestAddress(start))
}

/// Writes the zero page at [`ZERO_PAGE_START`] for a 64-bit Linux boot.
pub fn configure_system<M: GuestMemoryBackend>(
    mem: &M,
    params: &BootConfig,
) -> Result<(), BootError> {
    let zero_page = build_boot_params(params)?;
    mem.write_obj(zero_page, ZERO_PAGE_START)
        .map_err(BootError::memory("zero page", ZERO_PAGE_START))?;
    log::debug!(
        "zero page at {:#x}: cmdline {:#x} ({} bytes), initrd {:?}, rsdp {:?}, {} e820 entries",
        ZERO_PAGE_START.0,
        params.cmdline_addr.0,
        params.cmdline_size,
        params.initrd,
        params.rsdp,
        zero_page.e820_entries
    );
    Ok(())
}

/// Fills `boot_params` from `params` (see [`configure_system`]).
pub fn build_boot_params(params: &BootConfig) -> Result<boot_params, BootError> {
    let mut bp = boot_params {
        hdr: params.setup_header.unwrap_or_else(default_setup_header),
        ..Default::default()
    };
    check_cmdline(&bp.hdr, params.cmdline_size)?;

    bp.hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
    bp.hdr.loadflags |= LOADED_HIGH;
    let (cmdline_lo, cmdline_hi) = split_u64(params.cmdline_addr.0);
    bp.hdr.cmd_line_ptr = cmdline_lo;
    bp.ext_cmd_line_ptr = cmdline_hi;
    bp.hdr.cmdline_size = params.cmdline_size as u32;
    if let Some((addr, size)) = params.initrd {
        let (image_lo, image_hi) = split_u64(addr.0);
        let (size_lo, size_hi) = split_u64(size);
        bp.hdr.ramdisk_image = image_lo;
        bp.ext_ramdisk_image = image_hi;
        bp.hdr.ramdisk_size = size_lo;
        bp.ext_ramdisk_size = size_hi;
    }
    if let Some(rsdp) = params.rsdp {
        bp.acpi_rsdp_addr = rsdp.0;
    }

    let e820 = e820_map(&params.ram_regions)?;
    bp.e820_entries = e820.len() as u8;
    for (slot, entry) in bp.e820_table.iter_mut().zip(e820) {
        *slot = entry;
    }
    Ok(bp)
}

/// The e820 map for `ram`: RAM below the EBDA, the EBDA..1 MiB hole (holding the ACPI tables)
/// as reserved, RAM from 1 MiB on; the 32-bit MMIO hole is simply absent.
pub fn e820_map(ram: &[(GuestAddress, u64)]) -> Result<Vec<boot_e820_entry>, BootError> {
    low_ram_end(ram)?;
    let mut map = vec![e820_entry(EBDA_START.0, HIMEM_START.0, E820_RESERVED)];
    for &(start, size) in ram {
        let end = start.0 + size;
        if start.0 < EBDA_START.0 {
            map.push(e820_entry(start.0, end.min(EBDA_START.0), E820_RAM));
        }
        let high_start = start.0.max(HIMEM_START.0);
        if high_start < end {
            map.push(e820_entry(high_start, end, E820_RAM));
        }
    }
    map.sort_by_key(|e| e.addr);
    if map.len() > E820_MAX_ENTRIES {
        return Err(BootError::TooManyE820Entries(map.len()));
    }
    Ok(map)
}

/// A header for kernels that bring none (ELF vmlinux).
fn default_setup_header() -> setup_header {
    setup_header {
        boot_flag: BOOT_FLAG_MAGIC,
        header: HDRS_MAGIC,
        kernel_alignment: DEFAULT_KERNEL_ALIGNMENT,
        ..Default::default()
    }
}

/// Checks the command line against ovmm's buffer and the kernel's stated maximum.
fn check_cmdline(hdr: &setup_header, cmdline_size: usize) -> Result<(), BootError> {
    let len = (cmdline_size as u64).saturating_sub(1);
    if cmdline_size as u64 > CMDLINE_MAX_SIZE {
        return Err(BootError::CmdlineTooLong {
            len,
            max: CMDLINE_MAX_SIZE - 1,
            limit: "ovmm's command-line buffer",
        });
    }
    let kernel_max = u64::from(hdr.cmdline_size);
    if hdr.header == HDRS_MAGIC
        && hdr.version >= PROTOCOL_WITH_CMDLINE_SIZE
        && kernel_max != 0
        && len > kernel_max
    {
        return Err(BootError::CmdlineTooLong {
            len,
            max: kernel_max,
            limit: "the kernel (setup header cmdline_size)",
        });
    }
    Ok(())
}

/// End (exclusive) of the RAM region at address 0.
fn low_ram_end(ram: &[(GuestAddress, u64)]) -> Result<u64, BootError> {
    match ram.first() {
        Some(&(start, size)) if start.0 == 0 && size > 0 => Ok(size),
        other => Err(BootError::NoLowRam(other.map(|r| (r.0 .0, r.1)))),
    }
}

fn e820_entry(start: u64, end: u64, kind: u32) -> boot_e820_entry {
    boot_e820_entry {
        addr: start,
        size: end - start,
        r#type: kind,
    }
}

fn split_u64(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

fn align_up(v: u64, align: u64) -> u64 {
    v.div_ceil(align) * align
}

#[cfg(test)]
mod tests;
