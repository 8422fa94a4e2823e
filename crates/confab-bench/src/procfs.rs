//! What /proc says about the server under test: its resident memory and
//! the CPU time it has used.

use std::time::Instant;

/// Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks.
const TICKS_PER_SEC: f64 = 100.0;

/// VmRSS of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User plus system CPU seconds `pid` has used.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// The server's CPU use over an interval, in cores (1.0 = one core busy).
pub struct CpuMeter {
    pid: Option<u32>,
    start: Option<(f64, Instant)>,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> CpuMeter {
        let start = pid.and_then(cpu_secs).map(|c| (c, Instant::now()));
        CpuMeter { pid, start }
    }

    pub fn cores(&self) -> Option<f64> {
        let (c0, t0) = self.start?;
        let c1 = cpu_secs(self.pid?)?;
        let wall = t0.elapsed().as_secs_f64();
        (wall > 0.0).then(|| (c1 - c0) / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 0);
        assert!(cpu_secs(me).unwrap() >= 0.0);
        assert!(rss_bytes(u32::MAX).is_none());
    }
}
