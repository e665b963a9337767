//! The arm64 Linux boot protocol as plain data: the Image header ([`parse_image_header`]) and
//! where the Image, the DTB and the initrd go in guest RAM ([`plan_boot`]).
//!
//! Placement (Documentation/arch/arm64/booting.rst):
//! - the Image sits `text_offset` bytes above a 2 MiB-aligned base; ovmm uses the start of RAM
//!   as that base, which also satisfies kernels that want to sit near the bottom of RAM, and
//!   keeps `image_size` bytes free from there (the header's size includes the BSS);
//! - the DTB gets the whole 2 MiB-aligned, 2 MiB block after the kernel: 8-byte aligned, never
//!   crossing a 2 MiB boundary, room for the largest DTB the protocol allows. Its place does not
//!   depend on its size, so the initrd can be placed (and written into the DTB) first;
//! - the initrd follows that block, 64 KiB aligned (whole pages for any guest page size). The
//!   protocol wants the kernel and the initrd inside one 1 GiB-aligned window of at most
//!   32 GiB, which this placement checks.
//!
//! The vCPU then starts at the Image's first byte with `x0` = the DTB address and `x1`-`x3` = 0
//! (MMU off, interrupts masked, EL1 or EL2).

use thiserror::Error;
use vm_memory::GuestAddress;

use super::layout::{align_up, ByteSize, GuestRange, FDT_MAX_SIZE, KERNEL_BASE_ALIGN};

/// Bytes of the arm64 Image header.
pub const IMAGE_HEADER_SIZE: usize = 64;
/// The header's magic at offset 56: "ARM\x64".
pub const IMAGE_MAGIC: [u8; 4] = *b"ARM\x64";
/// Alignment of the initrd ovmm uses (the largest arm64 page size).
pub const INITRD_ALIGN: u64 = 64 << 10;
/// The kernel and the initrd must share a 1 GiB-aligned window of at most this size.
pub const KERNEL_INITRD_WINDOW: u64 = 32 << 30;
/// Alignment of the kernel/initrd window.
const KERNEL_INITRD_WINDOW_ALIGN: u64 = 1 << 30;

const TEXT_OFFSET_AT: usize = 8;
const IMAGE_SIZE_AT: usize = 16;
const FLAGS_AT: usize = 24;
const MAGIC_AT: usize = 56;
const FLAG_BIG_ENDIAN: u64 = 1;
const FLAG_PAGE_SIZE_SHIFT: u32 = 1;
const FLAG_PHYS_ANYWHERE: u64 = 1 << 3;

/// The page size an Image declares (header flags bits 1-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPageSize {
    /// Not stated (kernels before 3.17 set no flags).
    Unspecified,
    /// 4 KiB pages.
    Size4K,
    /// 16 KiB pages.
    Size16K,
    /// 64 KiB pages.
    Size64K,
}

/// What an arm64 Image header says about loading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset of the Image above its 2 MiB-aligned base.
    pub text_offset: u64,
    /// Bytes the kernel needs from its load address (BSS included).
    pub image_size: u64,
    /// The kernel's page size.
    pub page_size: KernelPageSize,
    /// Whether the 2 MiB base may be anywhere in RAM (flags bit 3); otherwise it should be as
    /// low as possible, since RAM below it is not in the linear map.
    pub phys_anywhere: bool,
}

/// Where the kernel, the DTB and the initrd go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootLayout {
    /// The Image is written here; the boot vCPU's PC starts here too.
    pub kernel: GuestRange,
    /// The DTB goes here (passed in `x0`); the block is [`FDT_MAX_SIZE`] bytes.
    pub fdt: GuestRange,
    /// Where the initrd goes, if there is one.
    pub initrd: Option<GuestRange>,
}

impl BootLayout {
    /// The address the boot vCPU starts at.
    pub fn entry(&self) -> GuestAddress {
        self.kernel.start
    }
}

/// Why a kernel cannot be booted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BootError {
    /// The file is shorter than the header.
    #[error("kernel is {len} bytes, shorter than the {IMAGE_HEADER_SIZE}-byte arm64 Image header")]
    TooShort {
        /// File length.
        len: usize,
    },
    /// A gzip file (Image.gz or a distribution's compressed vmlinuz).
    #[error("kernel is gzip-compressed (Image.gz); ovmm needs the uncompressed arm64 Image: gunzip it first")]
    Gzip,
    /// An EFI zboot image (vmlinuz.efi), which needs EFI firmware to unpack.
    #[error("kernel is an EFI zboot image (compressed {0:?} payload); ovmm needs the uncompressed arm64 Image")]
    Zboot(String),
    /// The magic is missing.
    #[error("kernel has no arm64 Image magic \"ARM\\x64\" at offset 56 (found {found:02x?}): not an arm64 Image")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A big-endian kernel.
    #[error("kernel is a big-endian arm64 Image; ovmm boots little-endian kernels only")]
    BigEndian,
    /// A header without `image_size` (kernels before 3.17).
    #[error("arm64 Image header has image_size 0 (a kernel older than 3.17); it is not supported")]
    NoImageSize,
    /// `text_offset` is not below 2 MiB or not 4 KiB aligned.
    #[error("arm64 Image text_offset {0:#x} is not a 4 KiB-aligned offset below 2 MiB")]
    TextOffset(u64),
    /// The kernel does not fit in RAM.
    #[error(
        "kernel needs {} at {load:#x}, but RAM {ram} ends at {:#x}",
        ByteSize(*.size),
        .ram.end()
    )]
    KernelDoesNotFit {
        /// Bytes the kernel needs.
        size: u64,
        /// Where it would be loaded.
        load: u64,
        /// Guest RAM.
        ram: GuestRange,
    },
    /// The DTB block does not fit in RAM after the kernel.
    #[error(
        "the {} device tree block at {start:#x} after the kernel does not fit RAM {ram}",
        ByteSize(FDT_MAX_SIZE)
    )]
    FdtDoesNotFit {
        /// Where the block would start.
        start: u64,
        /// Guest RAM.
        ram: GuestRange,
    },
    /// The initrd does not fit in RAM after the kernel and the DTB.
    #[error(
        "initrd of {} does not fit: {} of RAM {ram} are left after the kernel and the device \
         tree (from {start:#x})",
        ByteSize(*.size),
        ByteSize(.ram.end().saturating_sub(*.start))
    )]
    InitrdDoesNotFit {
        /// Initrd size.
        size: u64,
        /// Where it would start.
        start: u64,
        /// Guest RAM.
        ram: GuestRange,
    },
    /// The kernel and the initrd span more than the protocol's 32 GiB window.
    #[error(
        "kernel at {kernel_start:#x} and initrd ending at {initrd_end:#x} span more than the \
         {} (1 GiB-aligned) window the arm64 boot protocol allows",
        ByteSize(KERNEL_INITRD_WINDOW)
    )]
    InitrdWindow {
        /// Start of the kernel.
        kernel_start: u64,
        /// End of the initrd.
        initrd_end: u64,
    },
}

/// Reads the header at the start of an arm64 Image (`image` may be the whole file or its
/// first [`IMAGE_HEADER_SIZE`] bytes).
pub fn parse_image_header(image: &[u8]) -> Result<ImageHeader, BootError> {
    if image.starts_with(&[0x1f, 0x8b]) {
        return Err(BootError::Gzip);
    }
    if image.starts_with(b"MZ") && image.get(4..8) == Some(b"zimg".as_slice()) {
        let codec = image.get(24..32).unwrap_or_default();
        let codec = String::from_utf8_lossy(codec)
            .trim_end_matches('\0')
            .to_string();
        return Err(BootError::Zboot(codec));
    }
    if image.len() < IMAGE_HEADER_SIZE {
        return Err(BootError::TooShort { len: image.len() });
    }
    let found = [
        image[MAGIC_AT],
        image[MAGIC_AT + 1],
        image[MAGIC_AT + 2],
        image[MAGIC_AT + 3],
    ];
    if found != IMAGE_MAGIC {
        return Err(BootError::BadMagic { found });
    }
    let flags = le_u64(image, FLAGS_AT);
    if flags & FLAG_BIG_ENDIAN != 0 {
        return Err(BootError::BigEndian);
    }
    let text_offset = le_u64(image, TEXT_OFFSET_AT);
    let image_size = le_u64(image, IMAGE_SIZE_AT);
    if image_size == 0 {
        return Err(BootError::NoImageSize);
    }
    if text_offset >= KERNEL_BASE_ALIGN || text_offset % 0x1000 != 0 {
        return Err(BootError::TextOffset(text_offset));
    }
    let page_size = match (flags >> FLAG_PAGE_SIZE_SHIFT) & 3 {
        1 => KernelPageSize::Size4K,
        2 => KernelPageSize::Size16K,
        3 => KernelPageSize::Size64K,
        _ => KernelPageSize::Unspecified,
    };
    Ok(ImageHeader {
        text_offset,
        image_size,
        page_size,
        phys_anywhere: flags & FLAG_PHYS_ANYWHERE != 0,
    })
}

/// Places a kernel of `image_len` file bytes with `header`, its DTB and an initrd of
/// `initrd_size` bytes in `ram` (one region; on ovmm's map, `layout::ram_regions`' only one).
pub fn plan_boot(
    ram: GuestRange,
    header: &ImageHeader,
    image_len: u64,
    initrd_size: Option<u64>,
) -> Result<BootLayout, BootError> {
    let size = header.image_size.max(image_len);
    let kernel_fits = |load: u64| {
        load >= ram.start.0 && load.checked_add(size).is_some_and(|end| end <= ram.end())
    };
    let load = align_up(ram.start.0, KERNEL_BASE_ALIGN)
        .and_then(|base| base.checked_add(header.text_offset))
        .filter(|&load| kernel_fits(load))
        .ok_or(BootError::KernelDoesNotFit {
            size,
            load: ram.start.0.saturating_add(header.text_offset),
            ram,
        })?;
    let kernel = GuestRange::new(GuestAddress(load), size);

    let fdt_start = align_up(kernel.end(), KERNEL_BASE_ALIGN);
    let fdt = fdt_start
        .filter(|start| start.checked_add(FDT_MAX_SIZE).is_some())
        .map(|start| GuestRange::new(GuestAddress(start), FDT_MAX_SIZE))
        .filter(|fdt| ram.contains(fdt))
        .ok_or(BootError::FdtDoesNotFit {
            start: fdt_start.unwrap_or(u64::MAX),
            ram,
        })?;

    let initrd = match initrd_size {
        Some(size) => Some(place_initrd(ram, &kernel, fdt.end(), size)?),
        None => None,
    };
    Ok(BootLayout {
        kernel,
        fdt,
        initrd,
    })
}

fn place_initrd(
    ram: GuestRange,
    kernel: &GuestRange,
    after: u64,
    size: u64,
) -> Result<GuestRange, BootError> {
    let start = align_up(after, INITRD_ALIGN);
    let initrd = start
        .filter(|start| start.checked_add(size).is_some())
        .map(|start| GuestRange::new(GuestAddress(start), size))
        .filter(|initrd| ram.contains(initrd))
        .ok_or(BootError::InitrdDoesNotFit {
            size,
            start: start.unwrap_or(u64::MAX),
            ram,
        })?;
    let window_start = kernel.start.0 & !(KERNEL_INITRD_WINDOW_ALIGN - 1);
    if initrd.end() - window_start > KERNEL_INITRD_WINDOW {
        return Err(BootError::InitrdWindow {
            kernel_start: kernel.start.0,
            initrd_end: initrd.end(),
        });
    }
    Ok(initrd)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests;
