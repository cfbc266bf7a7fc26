//! FTDI USB-serial adapters buffer received bytes for their "latency timer" (16 ms by
//! default) before sending a short USB packet, which caps a request/response loop near
//! 62 Hz. Linux exposes the timer in sysfs; this module finds adapters and reads it.

use std::path::{Path, PathBuf};

/// Where the Linux usb-serial driver lists its ports.
pub const SYSFS_USB_SERIAL: &str = "/sys/bus/usb-serial/devices";

/// Above this the driver warns (ms).
pub const MAX_GOOD_LATENCY_MS: u32 = 1;

/// One FTDI port and its latency timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtdiPort {
    /// Kernel name, e.g. `ttyUSB0`.
    pub name: String,
    /// Latency timer, ms.
    pub latency_ms: u32,
}

impl FtdiPort {
    /// A one-line warning with the fix when the timer is above [`MAX_GOOD_LATENCY_MS`].
    pub fn warning(&self) -> Option<String> {
        (self.latency_ms > MAX_GOOD_LATENCY_MS).then(|| {
            format!(
                "/dev/{name}: FTDI latency timer is {ms} ms (> {max} ms): replies wait up to {ms} ms in the adapter. \
                 Fix: echo 1 | sudo tee {root}/{name}/latency_timer (or a udev rule: \
                 ACTION==\"add\", SUBSYSTEM==\"usb-serial\", DRIVER==\"ftdi_sio\", ATTR{{latency_timer}}=\"1\")",
                name = self.name,
                ms = self.latency_ms,
                max = MAX_GOOD_LATENCY_MS,
                root = SYSFS_USB_SERIAL,
            )
        })
    }
}

/// Every FTDI port under `root` (normally [`SYSFS_USB_SERIAL`]); empty where there is none.
pub fn find_ftdi_ports(root: &Path) -> Vec<FtdiPort> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut ports: Vec<FtdiPort> =
        entries.flatten().filter_map(|e| read_port(root, &e.file_name().to_string_lossy())).collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    ports
}

/// The FTDI port behind `device` (e.g. `/dev/ttyUSB0`, or a symlink to it), if it is one.
pub fn ftdi_port_for(root: &Path, device: &Path) -> Option<FtdiPort> {
    let real: PathBuf = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    read_port(root, real.file_name()?.to_str()?)
}

fn read_port(root: &Path, name: &str) -> Option<FtdiPort> {
    let dir = root.join(name);
    let driver = std::fs::read_link(dir.join("driver")).ok()?;
    if driver.file_name()?.to_str()? != "ftdi_sio" {
        return None;
    }
    let text = std::fs::read_to_string(dir.join("latency_timer")).ok()?;
    Some(FtdiPort { name: name.to_string(), latency_ms: text.trim().parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs-shaped tree: two FTDI ports (16 ms and 1 ms) and a CP210x without the file.
    fn fake_sysfs() -> PathBuf {
        let root = std::env::temp_dir().join(format!("strider-ftdi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (name, driver, latency) in [
            ("ttyUSB0", "ftdi_sio", Some("16\n")),
            ("ttyUSB1", "ftdi_sio", Some("1\n")),
            ("ttyUSB2", "cp210x", None),
        ] {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(
                format!("../../../bus/usb-serial/drivers/{driver}"),
                dir.join("driver"),
            )
            .unwrap();
            if let Some(l) = latency {
                std::fs::write(dir.join("latency_timer"), l).unwrap();
            }
        }
        root
    }

    #[test]
    fn finds_ftdi_ports_reads_their_timer_and_warns_only_above_one_ms() {
        let root = fake_sysfs();
        let ports = find_ftdi_ports(&root);
        assert_eq!(
            ports,
            vec![
                FtdiPort { name: "ttyUSB0".into(), latency_ms: 16 },
                FtdiPort { name: "ttyUSB1".into(), latency_ms: 1 }
            ]
        );
        let warning = ports[0].warning().expect("16 ms warns");
        assert!(warning.contains("16 ms") && warning.contains("ttyUSB0/latency_timer"), "{warning}");
        assert_eq!(ports[1].warning(), None);
        assert_eq!(ftdi_port_for(&root, Path::new("/dev/ttyUSB1")).map(|p| p.latency_ms), Some(1));
        assert_eq!(ftdi_port_for(&root, Path::new("/dev/ttyUSB2")), None, "not an FTDI adapter");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
