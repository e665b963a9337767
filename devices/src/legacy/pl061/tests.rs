use vmm_sys_util::eventfd::EFD_NONBLOCK;

use super::*;

fn device() -> (Pl061Device, EventFd) {
    let irq = EventFd::new(EFD_NONBLOCK).unwrap();
    (Pl061Device::new(irq.try_clone().unwrap()), irq)
}

fn read8(dev: &mut Pl061Device, offset: u64) -> u8 {
    let mut data = [0xaa];
    dev.read(offset, &mut data);
    data[0]
}

fn read32(dev: &mut Pl061Device, offset: u64) -> u32 {
    let mut data = [0xaa; 4];
    dev.read(offset, &mut data);
    u32::from_le_bytes(data)
}

fn write32(dev: &mut Pl061Device, offset: u64, value: u32) {
    dev.write(offset, &value.to_le_bytes());
}

/// Interrupt pulses signalled since the last call (0 when none).
fn pulses(irq: &EventFd) -> u64 {
    irq.read().unwrap_or(0)
}

/// Sets pin 3 up as Linux's gpio-keys does: input, both edges, interrupt enabled.
fn gpio_keys_setup(dev: &mut Pl061Device) {
    write32(dev, GPIODIR, 0);
    write32(dev, GPIOIS, 0);
    write32(dev, GPIOIBE, 1 << 3);
    write32(dev, GPIOIE, 1 << 3);
}

#[test]
fn primecell_ids_for_the_amba_bus() {
    let (mut dev, _) = device();
    let ids: Vec<u32> = (0..8).map(|i| read32(&mut dev, 0xfe0 + 4 * i)).collect();
    assert_eq!(ids, [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    // Linux assembles them as peripheral ID 0x00041061 and cell ID 0xb105f00d.
    let periph = ids[..4]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, b)| acc | b << (8 * i));
    assert_eq!(periph, 0x0004_1061);
    assert_eq!(
        read8(&mut dev, 0xff1),
        0,
        "only a word's first byte holds a register"
    );
}

#[test]
fn reset_state_is_all_inputs_low_and_quiet() {
    let (mut dev, irq) = device();
    for reg in [
        0x3fc, GPIODIR, GPIOIS, GPIOIBE, GPIOIEV, GPIOIE, GPIORIS, GPIOMIS, GPIOAFSEL,
    ] {
        assert_eq!(read32(&mut dev, reg), 0, "register {reg:#x}");
    }
    assert_eq!(pulses(&irq), 0);
}

#[test]
fn data_register_masks_by_address() {
    let (mut dev, _) = device();
    write32(&mut dev, GPIODIR, 0x0f); // pins 0-3 outputs, 4-7 inputs
    write32(&mut dev, 0x3fc, 0xff); // every bit unmasked
    assert_eq!(
        read32(&mut dev, 0x3fc),
        0x0f,
        "inputs read their (low) level"
    );
    // Mask 0x02 (address 0x008): only pin 1 changes.
    write32(&mut dev, 0x008, 0x00);
    assert_eq!(read32(&mut dev, 0x3fc), 0x0d);
    // A read masks too: address 0x020 is pin 3 alone, 0x00c pins 0 and 1.
    assert_eq!(read32(&mut dev, 0x020), 0x08);
    assert_eq!(read32(&mut dev, 0x00c), 0x01);
    // Address 0 masks everything: writes change nothing, reads see 0.
    write32(&mut dev, 0x000, 0x00);
    assert_eq!(read32(&mut dev, 0x000), 0);
    assert_eq!(dev.levels(), 0x0d);
    // Inputs show what the VMM drives, not the latch.
    dev.set_input(6, true).unwrap();
    assert_eq!(read32(&mut dev, 0x3fc), 0x4d);
    write32(&mut dev, 0x3fc, 0x00);
    assert_eq!(
        read32(&mut dev, 0x3fc),
        0x40,
        "writes never move an input pin"
    );
    // Turning an input into an output shows the latch (written while it was an input).
    write32(&mut dev, 0x100, 0x40); // mask 0x40: latch pin 6 high
    dev.set_input(6, false).unwrap();
    write32(&mut dev, GPIODIR, 0x4f);
    assert_eq!(read8(&mut dev, 0x100), 0x40);
}

#[test]
fn configuration_registers_read_back() {
    let (mut dev, _) = device();
    for (reg, value) in [
        (GPIODIR, 0x81),
        (GPIOIS, 0x42),
        (GPIOIBE, 0x24),
        (GPIOIEV, 0x18),
        (GPIOAFSEL, 0x03),
    ] {
        write32(&mut dev, reg, value);
        assert_eq!(read32(&mut dev, reg), value, "register {reg:#x}");
    }
    // Status registers are read-only; IC is write-only.
    write32(&mut dev, GPIORIS, 0xff);
    write32(&mut dev, GPIOMIS, 0xff);
    assert_eq!(read32(&mut dev, GPIOIC), 0);
}

#[test]
fn both_edges_interrupt_like_gpio_keys() {
    let (mut dev, irq) = device();
    gpio_keys_setup(&mut dev);
    assert_eq!(pulses(&irq), 0, "configuring raises nothing");

    dev.set_input(3, true).unwrap();
    assert_eq!(pulses(&irq), 1, "the press raises the interrupt");
    assert_eq!(read32(&mut dev, GPIORIS), 0x08);
    assert_eq!(read32(&mut dev, GPIOMIS), 0x08);
    assert_eq!(
        read8(&mut dev, 0x20),
        0x08,
        "gpio-keys reads the pressed level"
    );
    write32(&mut dev, GPIOIC, 0x08);
    assert_eq!(read32(&mut dev, GPIORIS), 0);

    dev.set_input(3, false).unwrap();
    assert_eq!(pulses(&irq), 1, "the release raises it again");
    assert_eq!(read32(&mut dev, GPIOMIS), 0x08);
    assert_eq!(read8(&mut dev, 0x20), 0);
    write32(&mut dev, GPIOIC, 0xff);
    assert_eq!(read32(&mut dev, GPIOMIS), 0);

    // Driving the level it already has is no edge.
    dev.set_input(3, false).unwrap();
    assert_eq!(pulses(&irq), 0);
    assert_eq!(dev.pulses(), 2);
}

#[test]
fn single_edges_follow_the_event_register() {
    let (mut dev, irq) = device();
    write32(&mut dev, GPIOIE, 0x03);
    write32(&mut dev, GPIOIEV, 0x01); // pin 0 rising, pin 1 falling
    dev.set_input(0, true).unwrap();
    dev.set_input(1, true).unwrap();
    assert_eq!(
        read32(&mut dev, GPIORIS),
        0x01,
        "pin 1 ignores its rising edge"
    );
    assert_eq!(pulses(&irq), 1);
    dev.set_input(0, false).unwrap();
    dev.set_input(1, false).unwrap();
    assert_eq!(read32(&mut dev, GPIORIS), 0x03);
    assert_eq!(pulses(&irq), 1, "pin 1's falling edge pulses once more");
    // Clearing one leaves the other.
    write32(&mut dev, GPIOIC, 0x01);
    assert_eq!(read32(&mut dev, GPIOMIS), 0x02);
}

#[test]
fn enable_masks_status_and_raises_pending_events() {
    let (mut dev, irq) = device();
    write32(&mut dev, GPIOIBE, 0x10);
    dev.set_input(4, true).unwrap();
    assert_eq!(
        read32(&mut dev, GPIORIS),
        0x10,
        "the edge is latched while disabled"
    );
    assert_eq!(read32(&mut dev, GPIOMIS), 0);
    assert_eq!(pulses(&irq), 0, "a disabled line raises nothing");
    write32(&mut dev, GPIOIE, 0x10);
    assert_eq!(read32(&mut dev, GPIOMIS), 0x10);
    assert_eq!(pulses(&irq), 1, "enabling over a pending event raises it");
    // A second edge while the first is still pending adds nothing new.
    dev.set_input(4, false).unwrap();
    assert_eq!(pulses(&irq), 0);
    write32(&mut dev, GPIOIE, 0);
    assert_eq!(read32(&mut dev, GPIOMIS), 0);
}

#[test]
fn level_interrupts_follow_the_pin_and_ignore_clear() {
    let (mut dev, irq) = device();
    write32(&mut dev, GPIOIS, 0x04);
    write32(&mut dev, GPIOIEV, 0x04); // high level
    write32(&mut dev, GPIOIE, 0x04);
    assert_eq!(pulses(&irq), 0);
    dev.set_input(2, true).unwrap();
    assert_eq!(read32(&mut dev, GPIOMIS), 0x04);
    assert_eq!(pulses(&irq), 1);
    write32(&mut dev, GPIOIC, 0x04);
    assert_eq!(
        read32(&mut dev, GPIOMIS),
        0x04,
        "a level stays while the pin is high"
    );
    dev.set_input(2, false).unwrap();
    assert_eq!(read32(&mut dev, GPIOMIS), 0);
    // Low-level sense matches at once: the pin is low.
    write32(&mut dev, GPIOIEV, 0x00);
    assert_eq!(read32(&mut dev, GPIORIS), 0x04);
    assert_eq!(pulses(&irq), 1);
}

#[test]
fn output_pins_raise_their_own_edges() {
    let (mut dev, irq) = device();
    write32(&mut dev, GPIODIR, 0x80);
    write32(&mut dev, GPIOIEV, 0x80);
    write32(&mut dev, GPIOIE, 0x80);
    write32(&mut dev, 0x200, 0x80);
    assert_eq!(read32(&mut dev, GPIOMIS), 0x80);
    assert_eq!(pulses(&irq), 1);
}

#[test]
fn odd_accesses_are_harmless() {
    let (mut dev, irq) = device();
    write32(&mut dev, GPIODIR + 1, 0xff);
    dev.write(GPIOIE + 2, &[0xff]);
    dev.write(PL061_SIZE + 0x400, &[0xff]);
    dev.write(GPIODIR, &[]);
    assert_eq!(read32(&mut dev, GPIODIR), 0);
    assert_eq!(read32(&mut dev, GPIOIE), 0);
    let mut far = [0xaa; 4];
    dev.read(PL061_SIZE + 0xfe0, &mut far);
    assert_eq!(far, [0; 4]);
    // A byte write at a register's offset works (Linux uses writeb).
    dev.write(GPIODIR, &[0x05]);
    assert_eq!(read32(&mut dev, GPIODIR), 5);
    let err = dev.set_input(8, true).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("not 8"), "{err}");
    assert_eq!(pulses(&irq), 0);
}
