//! The MC146818 real-time clock and its 128 bytes of CMOS RAM, at ports 0x70 (offset 0,
//! index; bit 7 masks NMIs) and 0x71 (offset 1, data).
//!
//! The clock is the host's UTC clock plus an offset the guest changes by writing the time
//! registers. Nothing ticks: every read computes the registers from "now", in BCD or binary
//! and 24- or 12-hour format as register B asks. Register map:
//!
//! | index     | contents                                                              |
//! |-----------|-----------------------------------------------------------------------|
//! | 0x00      | seconds                                                               |
//! | 0x02      | minutes                                                               |
//! | 0x04      | hours (12-hour mode: bit 7 = PM)                                      |
//! | 0x06      | day of week, Sunday = 1 (derived from the date; writes are ignored)   |
//! | 0x07-0x09 | day of month, month, year within the century                          |
//! | 0x0A      | status A: 0x26 at reset; bit 7 (update in progress) is set during the |
//! |           | last 244 us of every second, as on the real part                      |
//! | 0x0B      | status B: 0x02 at reset (24-hour, BCD); bit 7 (SET) freezes the clock |
//! |           | while the guest writes a new time, which starts counting when SET     |
//! |           | clears                                                                |
//! | 0x0C      | status C: 0 (no interrupt is ever raised: no alarm, update or         |
//! |           | periodic interrupts)                                                  |
//! | 0x0D      | status D: 0x80 (RAM and time valid)                                   |
//! | 0x32      | century (the index ovmm's FADT must name in its CENTURY field)        |
//! | 0x15/0x16 | base memory in KiB (640 at most)                                      |
//! | 0x17/0x18 | memory above 1 MiB in KiB, at most 0xFFFF (copied at 0x30/0x31)       |
//! | 0x34/0x35 | memory between 16 MiB and 4 GiB in 64 KiB units, at most 0xFFFF       |
//! | 0x5B-0x5D | memory above 4 GiB in 64 KiB units, least significant byte first      |
//!
//! Every other index (alarms 0x01/0x03/0x05 included) is plain RAM. Reading the index port
//! returns 0xFF, as on boards where it is write-only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bus::BusDevice;

/// Offset of the index port (0x70).
pub const INDEX_OFFSET: u8 = 0;
/// Offset of the data port (0x71).
pub const DATA_OFFSET: u8 = 1;
/// The century register.
pub const CENTURY: u8 = 0x32;

const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const WEEKDAY: u8 = 0x06;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const STATUS_A: u8 = 0x0A;
const STATUS_B: u8 = 0x0B;
const STATUS_C: u8 = 0x0C;
const STATUS_D: u8 = 0x0D;

const INDEX_MASK: u8 = 0x7F;
const NMI_DISABLE: u8 = 0x80;
const A_UIP: u8 = 0x80;
/// 32.768 kHz time base, 1024 Hz periodic rate.
const A_DEFAULT: u8 = 0x26;
const B_SET: u8 = 0x80;
const B_UIE: u8 = 0x10;
const B_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
const D_VALID: u8 = 0x80;
const HOUR_PM: u8 = 0x80;

const NANOS_PER_SEC: i128 = 1_000_000_000;
/// The update-in-progress window before each second boundary.
const UIP_NANOS: i128 = 244_000;
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const UNIT_64K: u64 = 64 * KIB;

/// A source of wall-clock time, so tests can fix "now".
pub trait Clock: Send {
    /// Time elapsed since 1970-01-01 00:00:00 UTC.
    fn now(&self) -> Duration;
}

/// The host's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        // A host clock set before 1970 reads as the epoch.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A broken-down UTC time, as the registers show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

impl DateTime {
    fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let in_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
        }
    }

    /// Seconds since the epoch. Out-of-range fields carry over (day 32 is next month's 1st),
    /// so any bytes the guest writes give some time instead of an error.
    fn to_unix(self) -> i64 {
        let month0 = self.month - 1;
        let year = self.year + month0.div_euclid(12);
        let month = month0.rem_euclid(12) + 1;
        let days = days_from_civil(year, month) + self.day - 1;
        days * 86_400 + self.hour * 3600 + self.minute * 60 + self.second
    }

    /// Day of the week, 1 = Sunday.
    fn weekday(self) -> i64 {
        // 1970-01-01 was a Thursday.
        (self.to_unix().div_euclid(86_400) + 4).rem_euclid(7) + 1
    }
}

/// (year, month 1-12, day 1-31) of a day count since the epoch (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since the epoch of the first day of `month` (1-12) in `year`.
fn days_from_civil(year: i64, month: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn to_bcd(value: i64) -> u8 {
    let v = value.rem_euclid(100) as u8;
    (v / 10) << 4 | (v % 10)
}

fn from_bcd(value: u8) -> i64 {
    i64::from(value >> 4) * 10 + i64::from(value & 0x0F)
}

/// The RTC and CMOS RAM as a bus device.
pub struct Cmos {
    index: u8,
    nmi_masked: bool,
    ram: [u8; 128],
    clock: Box<dyn Clock>,
    /// Guest time minus host time.
    offset_nanos: i128,
    /// The time being set while register B's SET bit is on.
    frozen: Option<DateTime>,
}

impl Cmos {
    /// Length of the port range (0x70..=0x71).
    pub const LEN: u64 = 2;

    /// A CMOS showing the host's time and the guest's memory sizes: `mem_below_4g` bytes of RAM
    /// from address 0 and `mem_above_4g` bytes from 4 GiB.
    pub fn new(mem_below_4g: u64, mem_above_4g: u64) -> Self {
        Self::with_clock(mem_below_4g, mem_above_4g, Box::new(SystemClock))
    }

    /// Like [`Cmos::new`] with the time taken from `clock`.
    pub fn with_clock(mem_below_4g: u64, mem_above_4g: u64, clock: Box<dyn Clock>) -> Self {
        let mut cmos = Cmos {
            index: 0,
            nmi_masked: false,
            ram: [0; 128],
            clock,
            offset_nanos: 0,
            frozen: None,
        };
        cmos.ram[usize::from(STATUS_A)] = A_DEFAULT;
        cmos.ram[usize::from(STATUS_B)] = B_24H;
        cmos.set_memory_sizes(mem_below_4g, mem_above_4g);
        cmos
    }

    /// Whether the guest's last index write masked NMIs (bit 7).
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    fn set_memory_sizes(&mut self, below_4g: u64, above_4g: u64) {
        let base_kib = (below_4g / KIB).min(640);
        let ext_kib = (below_4g.saturating_sub(MIB) / KIB).min(0xFFFF);
        let above_16m = (below_4g.saturating_sub(16 * MIB) / UNIT_64K).min(0xFFFF);
        let high = above_4g / UNIT_64K;
        if high > 0xFF_FFFF {
            log::warn!(
                "cmos: {above_4g:#x} bytes above 4 GiB do not fit registers 0x5b-0x5d; \
                 they show 0xffffff x 64 KiB"
            );
        }
        self.put_le(0x15, base_kib, 2);
        self.put_le(0x17, ext_kib, 2);
        self.put_le(0x30, ext_kib, 2);
        self.put_le(0x34, above_16m, 2);
        self.put_le(0x5B, high.min(0xFF_FFFF), 3);
    }

    /// Stores the low `len` bytes of `value` at `index`, least significant first.
    fn put_le(&mut self, index: usize, value: u64, len: usize) {
        let bytes = value.to_le_bytes();
        self.ram[index..index + len].copy_from_slice(&bytes[..len]);
    }

    fn status_b(&self) -> u8 {
        self.ram[usize::from(STATUS_B)]
    }

    fn guest_nanos(&self) -> i128 {
        let host = i128::try_from(self.clock.now().as_nanos()).unwrap_or(i128::MAX / 2);
        host + self.offset_nanos
    }

    fn now(&self) -> DateTime {
        match self.frozen {
            Some(t) => t,
            None => {
                let secs = self.guest_nanos().div_euclid(NANOS_PER_SEC);
                DateTime::from_unix(i64::try_from(secs).unwrap_or(0))
            }
        }
    }

    /// Makes the guest clock read `time` now, keeping the phase within the second if
    /// `subsec_nanos` is given.
    fn set_guest_time(&mut self, time: DateTime, subsec_nanos: i128) {
        let host = self.guest_nanos() - self.offset_nanos;
        let target = i128::from(time.to_unix()) * NANOS_PER_SEC + subsec_nanos;
        self.offset_nanos = target - host;
    }

    fn encode(&self, value: i64) -> u8 {
        if self.status_b() & B_BINARY != 0 {
            value.rem_euclid(100) as u8
        } else {
            to_bcd(value)
        }
    }

    fn decode(&self, value: u8) -> i64 {
        if self.status_b() & B_BINARY != 0 {
            i64::from(value)
        } else {
            from_bcd(value)
        }
    }

    fn encode_hour(&self, hour: i64) -> u8 {
        if self.status_b() & B_24H != 0 {
            return self.encode(hour);
        }
        let h12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        let pm = if hour >= 12 { HOUR_PM } else { 0 };
        self.encode(h12) | pm
    }

    fn decode_hour(&self, value: u8) -> i64 {
        if self.status_b() & B_24H != 0 {
            return self.decode(value);
        }
        let h12 = self.decode(value & !HOUR_PM) % 12;
        if value & HOUR_PM != 0 {
            h12 + 12
        } else {
            h12
        }
    }

    fn update_in_progress(&self) -> bool {
        self.frozen.is_none()
            && self.guest_nanos().rem_euclid(NANOS_PER_SEC) >= NANOS_PER_SEC - UIP_NANOS
    }

    fn read_data(&self) -> u8 {
        let t = self.now();
        match self.index {
            SECONDS => self.encode(t.second),
            MINUTES => self.encode(t.minute),
            HOURS => self.encode_hour(t.hour),
            WEEKDAY => self.encode(t.weekday()),
            DAY => self.encode(t.day),
            MONTH => self.encode(t.month),
            YEAR => self.encode(t.year),
            CENTURY => self.encode(t.year.div_euclid(100)),
            STATUS_A if self.update_in_progress() => self.ram[usize::from(STATUS_A)] | A_UIP,
            STATUS_C => 0,
            STATUS_D => D_VALID,
            index => self.ram[usize::from(index)],
        }
    }

    fn write_data(&mut self, value: u8) {
        match self.index {
            SECONDS | MINUTES | HOURS | DAY | MONTH | YEAR | CENTURY => self.write_time(value),
            WEEKDAY => log::debug!("cmos: ignored day-of-week write {value:#04x}"),
            STATUS_A => self.ram[usize::from(STATUS_A)] = value & !A_UIP,
            STATUS_B => self.write_status_b(value),
            STATUS_C | STATUS_D => {}
            index => self.ram[usize::from(index)] = value,
        }
    }

    /// Writes `value` to the time register at the current index.
    fn write_time(&mut self, value: u8) {
        let mut t = self.now();
        match self.index {
            SECONDS => t.second = self.decode(value),
            MINUTES => t.minute = self.decode(value),
            HOURS => t.hour = self.decode_hour(value),
            DAY => t.day = self.decode(value),
            MONTH => t.month = self.decode(value),
            YEAR => t.year = t.year.div_euclid(100) * 100 + self.decode(value),
            CENTURY => t.year = self.decode(value) * 100 + t.year.rem_euclid(100),
            _ => return,
        }
        match &mut self.frozen {
            Some(frozen) => *frozen = t,
            None => {
                let phase = self.guest_nanos().rem_euclid(NANOS_PER_SEC);
                self.set_guest_time(t, phase);
            }
        }
    }

    fn write_status_b(&mut self, mut value: u8) {
        if value & B_SET != 0 {
            // SET stops updates and, on the real part, clears the update-ended interrupt enable.
            value &= !B_UIE;
            if self.frozen.is_none() {
                self.frozen = Some(self.now());
            }
        } else if let Some(t) = self.frozen.take() {
            // The new time starts counting from the start of a second.
            self.set_guest_time(t, 0);
            log::debug!("cmos: guest set the clock to {t:?}");
        }
        self.ram[usize::from(STATUS_B)] = value;
    }
}

impl BusDevice for Cmos {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        super::read_bytes(offset, data, Self::LEN, |port| match port {
            DATA_OFFSET => self.read_data(),
            _ => 0xFF,
        });
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        super::write_bytes(offset, data, Self::LEN, |port, value| match port {
            INDEX_OFFSET => {
                self.index = value & INDEX_MASK;
                self.nmi_masked = value & NMI_DISABLE != 0;
            }
            _ => self.write_data(value),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// 2025-03-09 14:05:07 UTC, a Sunday.
    const SUNDAY_AFTERNOON: u64 = 1_741_529_107;
    const GIB: u64 = 1 << 30;

    #[derive(Clone)]
    struct TestClock(Arc<Mutex<Duration>>);

    impl TestClock {
        fn at(secs: u64, nanos: u32) -> Self {
            TestClock(Arc::new(Mutex::new(Duration::new(secs, nanos))))
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Duration {
            *self.0.lock().unwrap()
        }
    }

    fn cmos_at(secs: u64, nanos: u32) -> (Cmos, TestClock) {
        let clock = TestClock::at(secs, nanos);
        (Cmos::with_clock(GIB, 0, Box::new(clock.clone())), clock)
    }

    fn get(dev: &mut Cmos, index: u8) -> u8 {
        dev.write(u64::from(INDEX_OFFSET), &[index]);
        let mut b = [0];
        dev.read(u64::from(DATA_OFFSET), &mut b);
        b[0]
    }

    fn set(dev: &mut Cmos, index: u8, value: u8) {
        dev.write(u64::from(INDEX_OFFSET), &[index]);
        dev.write(u64::from(DATA_OFFSET), &[value]);
    }

    /// Linux 6.1's `mc146818_get_time()` on x86 (BCD always, FADT century at 0x32), with
    /// `udelay(100)` advancing the test clock. Returns (year, month, day, hour, min, sec).
    fn linux_get_time(dev: &mut Cmos, clock: &TestClock) -> Option<[i64; 6]> {
        for _ in 0..10 {
            let seconds = get(dev, SECONDS);
            if get(dev, STATUS_A) & A_UIP != 0 {
                clock.advance(Duration::from_micros(100));
                continue;
            }
            if seconds != get(dev, SECONDS) {
                continue;
            }
            let fields = [MINUTES, HOURS, DAY, MONTH, YEAR, CENTURY].map(|r| get(dev, r));
            if get(dev, STATUS_A) & A_UIP != 0 || seconds != get(dev, SECONDS) {
                continue;
            }
            let [min, hour, day, month, year, century] = fields.map(from_bcd);
            let year = if century > 20 {
                year + (century - 19) * 100
            } else if year < 70 {
                year + 100
            } else {
                year
            };
            return Some([year + 1900, month, day, hour, min, from_bcd(seconds)]);
        }
        None
    }

    #[test]
    fn bcd_time_from_a_fixed_clock() {
        let (mut dev, clock) = cmos_at(SUNDAY_AFTERNOON, 500_000_000);
        assert_eq!(get(&mut dev, SECONDS), 0x07);
        assert_eq!(get(&mut dev, MINUTES), 0x05);
        assert_eq!(get(&mut dev, HOURS), 0x14);
        assert_eq!(get(&mut dev, WEEKDAY), 1);
        assert_eq!(get(&mut dev, DAY), 0x09);
        assert_eq!(get(&mut dev, MONTH), 0x03);
        assert_eq!(get(&mut dev, YEAR), 0x25);
        assert_eq!(get(&mut dev, CENTURY), 0x20);
        assert_eq!(
            linux_get_time(&mut dev, &clock),
            Some([2025, 3, 9, 14, 5, 7])
        );
    }

    #[test]
    fn binary_and_12_hour_formats() {
        let (mut dev, _clock) = cmos_at(SUNDAY_AFTERNOON, 0);
        set(&mut dev, STATUS_B, B_24H | B_BINARY);
        assert_eq!(get(&mut dev, HOURS), 14);
        assert_eq!(get(&mut dev, SECONDS), 7);
        assert_eq!(get(&mut dev, YEAR), 25);
        assert_eq!(get(&mut dev, CENTURY), 20);
        set(&mut dev, STATUS_B, 0);
        assert_eq!(get(&mut dev, HOURS), 0x82, "2 PM in BCD");
        set(&mut dev, STATUS_B, B_BINARY);
        assert_eq!(get(&mut dev, HOURS), 0x82, "2 PM in binary");

        // 00:30 is 12 AM; writing 12 PM in 12-hour mode gives 12:30 in 24-hour mode.
        let (mut dev, _clock) = cmos_at(946_684_800 + 1800, 0);
        set(&mut dev, STATUS_B, 0);
        assert_eq!(get(&mut dev, HOURS), 0x12);
        set(&mut dev, HOURS, 0x92);
        set(&mut dev, STATUS_B, B_24H);
        assert_eq!(get(&mut dev, HOURS), 0x12);
        assert_eq!(get(&mut dev, MINUTES), 0x30);
    }

    #[test]
    fn update_in_progress_in_the_last_244_us() {
        let (mut dev, clock) = cmos_at(SUNDAY_AFTERNOON, 999_800_000);
        assert_eq!(get(&mut dev, STATUS_A), A_DEFAULT | A_UIP);
        // Linux waits it out and reads the next second.
        assert_eq!(
            linux_get_time(&mut dev, &clock),
            Some([2025, 3, 9, 14, 5, 8])
        );
        assert_eq!(get(&mut dev, STATUS_A), A_DEFAULT);
        // No update while SET holds the clock.
        let (mut dev, _clock) = cmos_at(SUNDAY_AFTERNOON, 999_900_000);
        set(&mut dev, STATUS_B, B_SET | B_24H);
        assert_eq!(get(&mut dev, STATUS_A), A_DEFAULT);
    }

    #[test]
    fn status_registers() {
        let (mut dev, _clock) = cmos_at(SUNDAY_AFTERNOON, 0);
        assert_eq!(get(&mut dev, STATUS_A), 0x26);
        assert_eq!(get(&mut dev, STATUS_B), 0x02);
        assert_eq!(get(&mut dev, STATUS_C), 0);
        assert_eq!(get(&mut dev, STATUS_D), 0x80);
        set(&mut dev, STATUS_C, 0xFF);
        set(&mut dev, STATUS_D, 0);
        set(&mut dev, STATUS_A, 0xAF);
        assert_eq!(get(&mut dev, STATUS_C), 0);
        assert_eq!(get(&mut dev, STATUS_D), 0x80);
        assert_eq!(get(&mut dev, STATUS_A), 0x2F);
        // SET clears the update-ended interrupt enable.
        set(&mut dev, STATUS_B, B_SET | B_UIE | B_24H);
        assert_eq!(get(&mut dev, STATUS_B), B_SET | B_24H);
    }

    #[test]
    fn index_bit_7_masks_nmi_and_not_the_register() {
        let (mut dev, _clock) = cmos_at(SUNDAY_AFTERNOON, 0);
        assert!(!dev.nmi_masked());
        assert_eq!(get(&mut dev, NMI_DISABLE | SECONDS), 0x07);
        assert!(dev.nmi_masked());
        assert_eq!(get(&mut dev, STATUS_D), 0x80);
        assert!(!dev.nmi_masked());
        let mut index = [0];
        dev.read(u64::from(INDEX_OFFSET), &mut index);
        assert_eq!(index, [0xFF]);
    }

    #[test]
    fn setting_the_time_with_set_and_rolling_over_a_century() {
        let (mut dev, clock) = cmos_at(SUNDAY_AFTERNOON, 300_000_000);
        set(&mut dev, STATUS_B, B_SET | B_24H);
        for (reg, value) in [
            (YEAR, 0x99),
            (CENTURY, 0x19),
            (MONTH, 0x12),
            (DAY, 0x31),
            (HOURS, 0x23),
            (MINUTES, 0x59),
            (SECONDS, 0x58),
        ] {
            set(&mut dev, reg, value);
        }
        clock.advance(Duration::from_secs(5));
        assert_eq!(get(&mut dev, SECONDS), 0x58, "frozen while SET");
        set(&mut dev, STATUS_B, B_24H);
        assert_eq!(get(&mut dev, SECONDS), 0x58);
        clock.advance(Duration::from_millis(999));
        assert_eq!(
            get(&mut dev, SECONDS),
            0x58,
            "a full second starts at SET clear"
        );
        clock.advance(Duration::from_millis(2001));
        assert_eq!(
            linux_get_time(&mut dev, &clock),
            Some([2000, 1, 1, 0, 0, 1])
        );
        assert_eq!(get(&mut dev, WEEKDAY), 7, "2000-01-01 was a Saturday");
    }

    #[test]
    fn direct_time_writes_keep_the_clock_running() {
        let (mut dev, clock) = cmos_at(SUNDAY_AFTERNOON, 0);
        set(&mut dev, YEAR, 0x30);
        assert_eq!(get(&mut dev, YEAR), 0x30);
        assert_eq!(get(&mut dev, CENTURY), 0x20);
        assert_eq!(get(&mut dev, MONTH), 0x03);
        assert_eq!(get(&mut dev, SECONDS), 0x07);
        clock.advance(Duration::from_secs(1));
        assert_eq!(get(&mut dev, SECONDS), 0x08);
        // A day past the month's end carries into the next month.
        set(&mut dev, MONTH, 0x02);
        set(&mut dev, DAY, 0x30);
        assert_eq!((get(&mut dev, MONTH), get(&mut dev, DAY)), (0x03, 0x02));
    }

    #[test]
    fn memory_size_registers() {
        let clock = TestClock::at(0, 0);
        let mut dev = Cmos::with_clock(3 * GIB, 5 * GIB, Box::new(clock.clone()));
        // 640 KiB base memory.
        assert_eq!((get(&mut dev, 0x15), get(&mut dev, 0x16)), (0x80, 0x02));
        // Above 1 MiB: capped at 0xFFFF KiB, in both copies.
        assert_eq!((get(&mut dev, 0x17), get(&mut dev, 0x18)), (0xFF, 0xFF));
        assert_eq!((get(&mut dev, 0x30), get(&mut dev, 0x31)), (0xFF, 0xFF));
        // (3 GiB - 16 MiB) / 64 KiB = 0xBF00.
        assert_eq!((get(&mut dev, 0x34), get(&mut dev, 0x35)), (0x00, 0xBF));
        // 5 GiB / 64 KiB = 0x01_4000.
        let high = [0x5B, 0x5C, 0x5D].map(|r| get(&mut dev, r));
        assert_eq!(high, [0x00, 0x40, 0x01]);

        let mut small = Cmos::with_clock(8 << 20, 0, Box::new(clock));
        // 7 MiB above 1 MiB = 7168 KiB = 0x1C00; nothing above 16 MiB or 4 GiB.
        assert_eq!((get(&mut small, 0x17), get(&mut small, 0x18)), (0x00, 0x1C));
        assert_eq!((get(&mut small, 0x34), get(&mut small, 0x35)), (0, 0));
        assert_eq!([0x5B, 0x5C, 0x5D].map(|r| get(&mut small, r)), [0, 0, 0]);
    }

    #[test]
    fn nvram_and_wide_accesses() {
        let (mut dev, _clock) = cmos_at(SUNDAY_AFTERNOON, 0);
        set(&mut dev, 0x40, 0x5A);
        set(&mut dev, 0x7F, 0x11);
        set(&mut dev, 0x01, 0x45);
        assert_eq!(get(&mut dev, 0x40), 0x5A);
        assert_eq!(get(&mut dev, 0x7F), 0x11);
        assert_eq!(get(&mut dev, 0x01), 0x45, "alarm seconds is plain RAM");
        // outw(0x70, 0x41 | 0x77 << 8): index then data in one access.
        dev.write(0, &[0x41, 0x77]);
        assert_eq!(get(&mut dev, 0x41), 0x77);
    }

    #[test]
    fn calendar_conversions_round_trip() {
        // Every 7919 s from 1900 to 2100.
        let mut secs = -2_208_988_800;
        while secs < 4_102_444_800 {
            let t = DateTime::from_unix(secs);
            assert_eq!(t.to_unix(), secs, "{t:?}");
            assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
            secs += 7919;
        }
        let leap = DateTime::from_unix(951_782_400);
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        let t = DateTime::from_unix(4_107_542_400);
        assert_eq!((t.year, t.month, t.day, t.weekday()), (2100, 3, 1, 2));
    }
}
