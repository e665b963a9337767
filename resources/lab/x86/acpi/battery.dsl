/*
 * A user SSDT for the lab's --acpi-table scenario: a fake laptop battery (PNP0C0A), the
 * kind of table the laptop-passthrough seed adds so that a GPU driver finds a battery.
 * Compiled with iasl into the emulated host's initramfs as /lab/guest/battery.aml.
 */
DefinitionBlock ("", "SSDT", 2, "OVMM", "BATTERY", 1)
{
    Scope (\_SB)
    {
        Device (BAT0)
        {
            Name (_HID, EisaId ("PNP0C0A"))
            Name (_UID, One)
            Method (_STA, 0, NotSerialized)
            {
                Return (0x1F)
            }
            Name (_BIF, Package (0x0D)
            {
                One, 0x1770, 0x1770, One, 0x2EE0, 0x0258, 0x012C, 0x3C, 0x3C,
                "OVMM", "1", "LION", "ovmm"
            })
            Method (_BST, 0, NotSerialized)
            {
                Return (Package (0x04) { Zero, Zero, 0x1770, 0x2EE0 })
            }
        }
    }
}
