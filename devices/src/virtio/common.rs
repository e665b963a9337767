//! The common configuration structure of the modern virtio-pci transport
//! (`struct virtio_pci_common_cfg`): feature windows, device status, queue selection and
//! per-queue setup, with the status handshake's rules.
//!
//! Plain data: [`CommonConfig::write`] returns what the transport must do next (reset the
//! device, start it, re-route vectors); the transport does it.

use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_F_VERSION_1,
};

use super::interrupt::VIRTIO_MSI_NO_VECTOR;
use super::read_bytes;

/// Length of the common configuration structure (virtio 1.0 layout).
pub const COMMON_CFG_LEN: u64 = 0x38;

const DEVICE_FEATURE_SELECT: u64 = 0x00;
const DEVICE_FEATURE: u64 = 0x04;
const DRIVER_FEATURE_SELECT: u64 = 0x08;
const DRIVER_FEATURE: u64 = 0x0c;
const CONFIG_MSIX_VECTOR: u64 = 0x10;
const NUM_QUEUES: u64 = 0x12;
const DEVICE_STATUS: u64 = 0x14;
const CONFIG_GENERATION: u64 = 0x15;
const QUEUE_SELECT: u64 = 0x16;
const QUEUE_SIZE: u64 = 0x18;
const QUEUE_MSIX_VECTOR: u64 = 0x1a;
const QUEUE_ENABLE: u64 = 0x1c;
const QUEUE_NOTIFY_OFF: u64 = 0x1e;
const QUEUE_DESC: u64 = 0x20;
const QUEUE_DRIVER: u64 = 0x28;
const QUEUE_DEVICE: u64 = 0x30;

/// One queue as the driver set it up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// The largest size the device supports.
    pub max_size: u16,
    /// The size the driver chose (starts at the maximum).
    pub size: u16,
    /// Whether the driver enabled it.
    pub enabled: bool,
    /// Descriptor table address.
    pub desc: u64,
    /// Available ring ("driver area") address.
    pub driver: u64,
    /// Used ring ("device area") address.
    pub device: u64,
    /// MSI-X vector, or [`VIRTIO_MSI_NO_VECTOR`].
    pub vector: u16,
}

impl QueueConfig {
    fn new(max_size: u16) -> Self {
        QueueConfig {
            max_size,
            size: max_size,
            enabled: false,
            desc: 0,
            driver: 0,
            device: 0,
            vector: VIRTIO_MSI_NO_VECTOR,
        }
    }
}

/// What a write to the common configuration asks of the transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommonWrite {
    /// The driver wrote 0 to the status: reset the device.
    pub reset: bool,
    /// The driver set DRIVER_OK: start the device.
    pub driver_ok: bool,
    /// A vector assignment changed: re-route interrupts.
    pub vectors_changed: bool,
}

/// The registers of the common configuration structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonConfig {
    offered: u64,
    vector_count: u16,
    device_feature_select: u32,
    driver_feature_select: u32,
    driver_features: u64,
    config_vector: u16,
    status: u8,
    generation: u8,
    queue_select: u16,
    queues: Vec<QueueConfig>,
}

impl CommonConfig {
    /// The reset state of a function offering `offered` features, with queues of these
    /// maximum sizes and `vector_count` MSI-X vectors.
    pub fn new(offered: u64, queue_max_sizes: &[u16], vector_count: u16) -> Self {
        CommonConfig {
            offered,
            vector_count,
            device_feature_select: 0,
            driver_feature_select: 0,
            driver_features: 0,
            config_vector: VIRTIO_MSI_NO_VECTOR,
            status: 0,
            generation: 0,
            queue_select: 0,
            queues: queue_max_sizes
                .iter()
                .map(|&m| QueueConfig::new(m))
                .collect(),
        }
    }

    /// Back to the reset state (the generation counter keeps counting).
    pub fn reset(&mut self) {
        let sizes: Vec<u16> = self.queues.iter().map(|q| q.max_size).collect();
        let generation = self.generation;
        *self = CommonConfig::new(self.offered, &sizes, self.vector_count);
        self.generation = generation;
    }

    /// The device status register.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// Marks the device as needing a reset (after a failed start).
    pub fn set_status_bits(&mut self, bits: u8) {
        self.status |= bits;
    }

    /// The features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// The queues as the driver set them up.
    pub fn queues(&self) -> &[QueueConfig] {
        &self.queues
    }

    /// The config-change vector ([`VIRTIO_MSI_NO_VECTOR`] for none).
    pub fn config_vector(&self) -> u16 {
        self.config_vector
    }

    /// Counts a change of the device configuration (the driver re-reads until stable).
    pub fn bump_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Reads `data.len()` bytes at `offset`.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        read_bytes(&self.image(), offset, data);
    }

    fn image(&self) -> [u8; COMMON_CFG_LEN as usize] {
        let mut b = [0u8; COMMON_CFG_LEN as usize];
        let mut put = |at: u64, bytes: &[u8]| {
            b[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        };
        let feature_word = match self.device_feature_select {
            0 => self.offered as u32,
            1 => (self.offered >> 32) as u32,
            _ => 0,
        };
        let driver_word = match self.driver_feature_select {
            0 => self.driver_features as u32,
            1 => (self.driver_features >> 32) as u32,
            _ => 0,
        };
        put(
            DEVICE_FEATURE_SELECT,
            &self.device_feature_select.to_le_bytes(),
        );
        put(DEVICE_FEATURE, &feature_word.to_le_bytes());
        put(
            DRIVER_FEATURE_SELECT,
            &self.driver_feature_select.to_le_bytes(),
        );
        put(DRIVER_FEATURE, &driver_word.to_le_bytes());
        put(CONFIG_MSIX_VECTOR, &self.config_vector.to_le_bytes());
        put(NUM_QUEUES, &(self.queues.len() as u16).to_le_bytes());
        put(DEVICE_STATUS, &[self.status]);
        put(CONFIG_GENERATION, &[self.generation]);
        put(QUEUE_SELECT, &self.queue_select.to_le_bytes());
        if let Some(q) = self.selected() {
            put(QUEUE_SIZE, &q.size.to_le_bytes());
            put(QUEUE_MSIX_VECTOR, &q.vector.to_le_bytes());
            put(QUEUE_ENABLE, &u16::from(q.enabled).to_le_bytes());
            put(QUEUE_NOTIFY_OFF, &self.queue_select.to_le_bytes());
            put(QUEUE_DESC, &q.desc.to_le_bytes());
            put(QUEUE_DRIVER, &q.driver.to_le_bytes());
            put(QUEUE_DEVICE, &q.device.to_le_bytes());
        }
        b
    }

    fn selected(&self) -> Option<&QueueConfig> {
        self.queues.get(usize::from(self.queue_select))
    }

    /// Writes `data` at `offset`. Writes of any width land on the fields they cover; the
    /// read-only fields ignore them.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> CommonWrite {
        let mut image = self.image();
        let end = offset.saturating_add(data.len() as u64).min(COMMON_CFG_LEN);
        if offset >= end {
            return CommonWrite::default();
        }
        image[offset as usize..end as usize].copy_from_slice(&data[..(end - offset) as usize]);
        let touched = |at: u64, len: u64| offset < at + len && at < end;
        let u16_at = |at: u64| u16::from_le_bytes([image[at as usize], image[at as usize + 1]]);
        let u32_at = |at: u64| {
            u32::from_le_bytes(
                image[at as usize..at as usize + 4]
                    .try_into()
                    .unwrap_or([0; 4]),
            )
        };
        let mut out = CommonWrite::default();
        if touched(DEVICE_FEATURE_SELECT, 4) {
            self.device_feature_select = u32_at(DEVICE_FEATURE_SELECT);
        }
        if touched(DRIVER_FEATURE_SELECT, 4) {
            self.driver_feature_select = u32_at(DRIVER_FEATURE_SELECT);
        }
        if touched(DRIVER_FEATURE, 4) {
            self.write_driver_features(u32_at(DRIVER_FEATURE));
        }
        if touched(CONFIG_MSIX_VECTOR, 2) {
            self.config_vector = self.checked_vector(u16_at(CONFIG_MSIX_VECTOR));
            out.vectors_changed = true;
        }
        if touched(QUEUE_SELECT, 2) {
            self.queue_select = u16_at(QUEUE_SELECT);
        }
        let vector = self.checked_vector(u16_at(QUEUE_MSIX_VECTOR));
        let setup_open = self.status & VIRTIO_CONFIG_S_DRIVER_OK as u8 == 0;
        if let Some(q) = self.queues.get_mut(usize::from(self.queue_select)) {
            if touched(QUEUE_MSIX_VECTOR, 2) {
                q.vector = vector;
                out.vectors_changed = true;
            }
            if setup_open && !q.enabled {
                if touched(QUEUE_SIZE, 2) {
                    q.size = u16_at(QUEUE_SIZE);
                }
                let u64_at = |at: u64| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
                if touched(QUEUE_DESC, 8) {
                    q.desc = u64_at(QUEUE_DESC);
                }
                if touched(QUEUE_DRIVER, 8) {
                    q.driver = u64_at(QUEUE_DRIVER);
                }
                if touched(QUEUE_DEVICE, 8) {
                    q.device = u64_at(QUEUE_DEVICE);
                }
                // The driver may only write 1 (queue_reset, a 1.2 feature, is not offered).
                if touched(QUEUE_ENABLE, 2) && u16_at(QUEUE_ENABLE) == 1 {
                    q.enabled = true;
                }
            }
        }
        if touched(DEVICE_STATUS, 1) {
            self.write_status(image[DEVICE_STATUS as usize], &mut out);
        }
        out
    }

    fn write_driver_features(&mut self, word: u32) {
        // Features are fixed once FEATURES_OK is set.
        if self.status & VIRTIO_CONFIG_S_FEATURES_OK as u8 != 0 {
            return;
        }
        match self.driver_feature_select {
            0 => self.driver_features = (self.driver_features & !0xffff_ffff) | u64::from(word),
            1 => {
                self.driver_features =
                    (self.driver_features & 0xffff_ffff) | (u64::from(word) << 32)
            }
            _ => {}
        }
    }

    fn checked_vector(&self, vector: u16) -> u16 {
        if vector < self.vector_count {
            vector
        } else {
            VIRTIO_MSI_NO_VECTOR
        }
    }

    fn write_status(&mut self, value: u8, out: &mut CommonWrite) {
        if value == 0 {
            out.reset = true;
            return;
        }
        let features_ok = VIRTIO_CONFIG_S_FEATURES_OK as u8;
        let driver_ok = VIRTIO_CONFIG_S_DRIVER_OK as u8;
        let mut new = value;
        if new & features_ok != 0 && self.status & features_ok == 0 && !self.features_acceptable() {
            // The driver reads the status back and sees FEATURES_OK refused.
            new &= !features_ok;
        }
        if new & driver_ok != 0 && new & features_ok == 0 {
            new &= !driver_ok;
        }
        out.driver_ok = new & driver_ok != 0 && self.status & driver_ok == 0;
        self.status = new;
    }

    /// The driver accepted only offered features, and VIRTIO_F_VERSION_1 among them (this
    /// transport has no legacy interface).
    fn features_acceptable(&self) -> bool {
        self.driver_features & !self.offered == 0
            && self.driver_features & (1 << VIRTIO_F_VERSION_1) != 0
    }
}
