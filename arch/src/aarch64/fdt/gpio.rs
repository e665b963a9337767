//! The PL061 GPIO controller node (`arm,pl061`, an AMBA PrimeCell with the `apb_pclk` clock)
//! and the `gpio-keys` node whose `poweroff` key, on one of its lines, sends KEY_POWER: how an
//! arm64 guest without ACPI learns of a power-button press (as on QEMU's `virt`). Linux needs
//! `CONFIG_GPIO_PL061` and `CONFIG_KEYBOARD_GPIO` (Debian: built in, and `gpio_keys.ko`).

use vm_fdt::FdtWriter;

use super::{spi_cells, FdtError, SpiDevice, CLOCK_PHANDLE, GPIO_PHANDLE};

/// Lines of a PL061.
pub(super) const PL061_LINES: u8 = 8;
/// Linux's KEY_POWER input code (`include/uapi/linux/input-event-codes.h`).
pub const KEY_POWER: u32 = 116;
/// Flags cell of a GPIO specifier: active high.
const GPIO_ACTIVE_HIGH: u32 = 0;

/// A PL061 GPIO controller, with the power button on one of its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpioController {
    /// Its registers and SPI.
    pub device: SpiDevice,
    /// The line (0..=7) of the power button, if there is one.
    pub power_button: Option<u8>,
}

impl GpioController {
    pub(super) fn validate(&self) -> Result<(), FdtError> {
        match self.power_button {
            Some(pin) if pin >= PL061_LINES => Err(FdtError::PowerButtonLine { pin }),
            _ => Ok(()),
        }
    }
}

/// Writes the controller node and, with a power button, the `gpio-keys` node.
pub(super) fn write(fdt: &mut FdtWriter, gpio: &GpioController) -> Result<(), FdtError> {
    let dev = &gpio.device;
    let node = fdt.begin_node(&format!("pl061@{:x}", dev.range.start.0))?;
    fdt.property_string_list(
        "compatible",
        vec!["arm,pl061".to_string(), "arm,primecell".to_string()],
    )?;
    fdt.property_array_u64("reg", &[dev.range.start.0, dev.range.size])?;
    fdt.property_array_u32("interrupts", &spi_cells(dev.spi, dev.trigger))?;
    fdt.property_null("gpio-controller")?;
    fdt.property_u32("#gpio-cells", 2)?;
    fdt.property_u32("clocks", CLOCK_PHANDLE)?;
    fdt.property_string("clock-names", "apb_pclk")?;
    fdt.property_phandle(GPIO_PHANDLE)?;
    fdt.end_node(node)?;
    if let Some(pin) = gpio.power_button {
        let keys = fdt.begin_node("gpio-keys")?;
        fdt.property_string("compatible", "gpio-keys")?;
        let key = fdt.begin_node("poweroff")?;
        fdt.property_string("label", "GPIO Key Poweroff")?;
        fdt.property_u32("linux,code", KEY_POWER)?;
        fdt.property_array_u32("gpios", &[GPIO_PHANDLE, u32::from(pin), GPIO_ACTIVE_HIGH])?;
        fdt.end_node(key)?;
        fdt.end_node(keys)?;
    }
    Ok(())
}
