//! Devices by name: what `--device` accepts and how a device is reported.

use tch::Device;

/// A device by its name: `auto` (the first GPU if there is one, else the
/// CPU), `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| format!("device {s:?} is not auto, cpu, cuda or cuda:N")),
    }
}

/// The devices a `--device` setting names: `auto` is every CUDA device, or
/// the CPU when there is none; otherwise a comma-separated list of names.
pub fn parse_devices(setting: &str) -> Result<Vec<Device>, String> {
    if setting == "auto" {
        let n = tch::Cuda::device_count();
        return Ok(if n > 0 {
            (0..n as usize).map(Device::Cuda).collect()
        } else {
            vec![Device::Cpu]
        });
    }
    setting.split(',').map(|d| parse_device(d.trim())).collect()
}

/// The name a device is reported by.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
