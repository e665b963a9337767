//! PCI class codes in words, from the PCI Code and ID Assignment specification (no pci.ids
//! needed, so minimal images such as OpenWrt get names too).

/// The name of a 24-bit class code (`0x020000` -> "Ethernet controller").
pub fn class_name(class: u32) -> &'static str {
    let base = (class >> 16) as u8;
    let sub = (class >> 8) as u8;
    subclass_name(base, sub).unwrap_or_else(|| base_name(base))
}

fn subclass_name(base: u8, sub: u8) -> Option<&'static str> {
    let name = match (base, sub) {
        (0x00, 0x01) => "VGA-compatible unclassified device",
        (0x01, 0x00) => "SCSI storage controller",
        (0x01, 0x01) => "IDE interface",
        (0x01, 0x04) => "RAID bus controller",
        (0x01, 0x05) => "ATA controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x07) => "SAS controller",
        (0x01, 0x08) => "Non-volatile memory controller",
        (0x01, 0x09) => "UFS controller",
        (0x02, 0x00) => "Ethernet controller",
        (0x02, 0x07) => "InfiniBand controller",
        (0x02, 0x08) => "Fabric controller",
        (0x02, 0x80) => "Network controller",
        (0x03, 0x00) => "VGA compatible controller",
        (0x03, 0x01) => "XGA compatible controller",
        (0x03, 0x02) => "3D controller",
        (0x04, 0x00) => "Multimedia video controller",
        (0x04, 0x01) => "Multimedia audio controller",
        (0x04, 0x03) => "Audio device",
        (0x05, 0x00) => "RAM memory",
        (0x05, 0x01) => "FLASH memory",
        (0x05, 0x02) => "CXL memory",
        (0x06, 0x00) => "Host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI bridge",
        (0x06, 0x07) => "CardBus bridge",
        (0x06, 0x09) => "Semi-transparent PCI bridge",
        (0x07, 0x00) => "Serial controller",
        (0x07, 0x01) => "Parallel controller",
        (0x07, 0x03) => "Modem",
        (0x08, 0x05) => "SD host controller",
        (0x08, 0x06) => "IOMMU",
        (0x08, 0x80) => "System peripheral",
        (0x0c, 0x00) => "FireWire (IEEE 1394)",
        (0x0c, 0x03) => "USB controller",
        (0x0c, 0x04) => "Fibre Channel",
        (0x0c, 0x05) => "SMBus",
        (0x0c, 0x07) => "IPMI interface",
        (0x0c, 0x09) => "CANbus",
        (0x0d, 0x11) => "Bluetooth",
        (0x0d, 0x80) => "Wireless controller",
        (0x10, 0x00) => "Network and computing encryption device",
        (0x11, 0x01) => "Performance counters",
        (0x11, 0x80) => "Signal processing controller",
        _ => return None,
    };
    Some(name)
}

fn base_name(base: u8) -> &'static str {
    match base {
        0x00 => "Unclassified device",
        0x01 => "Mass storage controller",
        0x02 => "Network controller",
        0x03 => "Display controller",
        0x04 => "Multimedia controller",
        0x05 => "Memory controller",
        0x06 => "Bridge",
        0x07 => "Communication controller",
        0x08 => "Generic system peripheral",
        0x09 => "Input device controller",
        0x0a => "Docking station",
        0x0b => "Processor",
        0x0c => "Serial bus controller",
        0x0d => "Wireless controller",
        0x0e => "Intelligent controller",
        0x0f => "Satellite communications controller",
        0x10 => "Encryption controller",
        0x11 => "Signal processing controller",
        0x12 => "Processing accelerator",
        0x13 => "Non-essential instrumentation",
        0x40 => "Coprocessor",
        _ => "Unassigned class",
    }
}

#[cfg(test)]
mod tests {
    use super::class_name;

    #[test]
    fn names_subclasses_then_falls_back_to_the_base_class() {
        assert_eq!(class_name(0x020000), "Ethernet controller");
        assert_eq!(class_name(0x028000), "Network controller");
        assert_eq!(class_name(0x060400), "PCI bridge");
        assert_eq!(class_name(0x010802), "Non-volatile memory controller");
        assert_eq!(class_name(0x088000), "System peripheral");
        assert_eq!(class_name(0x120000), "Processing accelerator");
        assert_eq!(class_name(0x0c0330), "USB controller");
        assert_eq!(class_name(0x02ff00), "Network controller");
        assert_eq!(class_name(0xff0000), "Unassigned class");
    }
}
