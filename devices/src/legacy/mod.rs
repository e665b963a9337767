//! Legacy platform devices: the UART, the i8042 reset line, the CMOS RTC, the ACPI sleep and
//! reset registers and the test-exit port. Each is a small register machine behind
//! [`crate::bus::BusDevice`].
