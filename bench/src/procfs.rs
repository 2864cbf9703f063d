//! What the kernel knows about a server process: its CPU time and its peak resident memory,
//! read from `/proc/<pid>`.

use std::io;
use std::process::Command;
use std::sync::OnceLock;

/// Clock ticks per second of the `utime`/`stime` fields (`getconf CLK_TCK`, else 100).
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The CPU time a process has used so far (user + system, all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| invalid("no `)` in stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> io::Result<u64> {
        fields.get(n - 3).and_then(|f| f.parse().ok()).ok_or_else(|| invalid("bad utime/stime in stat"))
    };
    let ticks = field(14)? + field(15)?;
    Ok(ticks as f64 / ticks_per_second() as f64)
}

/// Resets the process's peak resident set size (`VmHWM`) to its current size.
pub fn reset_peak_rss(pid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// The process's peak resident set size since start or the last [`reset_peak_rss`], in bytes.
pub fn peak_rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| invalid("no VmHWM in status"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| invalid("bad VmHWM"))?;
    Ok(kib * 1024)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// CPU time and peak memory of a process over one measured span.
#[derive(Debug)]
pub struct Sampler {
    pid: u32,
    cpu_at_start: f64,
}

/// What a [`Sampler`] saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU seconds (user + system) used during the span.
    pub cpu_seconds: f64,
    /// Peak resident set size during the span, in bytes.
    pub peak_rss: u64,
}

impl Sampler {
    /// Starts a span: resets the peak RSS and notes the CPU time.
    pub fn start(pid: u32) -> io::Result<Self> {
        reset_peak_rss(pid)?;
        Ok(Self { pid, cpu_at_start: cpu_seconds(pid)? })
    }

    /// Ends the span.
    pub fn finish(self) -> io::Result<Usage> {
        Ok(Usage { cpu_seconds: cpu_seconds(self.pid)? - self.cpu_at_start, peak_rss: peak_rss(self.pid)? })
    }
}

/// The share of the machine's CPU time that the hypervisor gave to someone else (steal)
/// over one span, from the `cpu` line of `/proc/stat`. On a virtual machine whose host also
/// does its disk I/O, a run that syncs a lot can lose a third of its CPU this way, which
/// is why a figure is only comparable with the steal of its run.
#[derive(Debug)]
pub struct StealMeter {
    at_start: Option<(u64, u64)>,
}

/// Total and steal ticks of all CPUs so far (`None` where `/proc/stat` has no steal column).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, counted in user]
    let ticks: Vec<u64> = line.split_whitespace().take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
    let steal = *ticks.get(7)?;
    Some((ticks.iter().sum(), steal))
}

impl StealMeter {
    /// Starts a span.
    pub fn start() -> Self {
        Self { at_start: cpu_ticks() }
    }

    /// The steal share of the span, 0 to 1 (`None` where it cannot be read or no tick passed).
    pub fn finish(self) -> Option<f64> {
        let ((total_0, steal_0), (total_1, steal_1)) = (self.at_start?, cpu_ticks()?);
        let total = total_1.checked_sub(total_0).filter(|&t| t > 0)?;
        Some(steal_1.saturating_sub(steal_0) as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let sampler = Sampler::start(pid).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let usage = sampler.finish().unwrap();
        assert!(usage.cpu_seconds >= 0.0);
        assert!(usage.peak_rss > 0);
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn steal_is_a_share_of_the_span() {
        let meter = StealMeter::start();
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(steal) = meter.finish() {
            assert!((0.0..=1.0).contains(&steal), "{steal}");
        }
        assert!(cpu_ticks().is_some(), "Linux has a cpu line with a steal column");
    }
}
