//! The markdown table of figures, with the verdict on each target.

use crate::Durability;
use std::fmt::Write as _;

/// How a figure is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Megabytes (10^6 bytes) per second.
    MegabytesPerSecond,
    /// Server CPU seconds per GiB uploaded.
    CpuSecondsPerGib,
    /// Server CPU milliseconds per upload.
    CpuMillisPerUpload,
    /// Server CPU microseconds per request.
    CpuMicrosPerRequest,
    /// Mebibytes (memory).
    Mebibytes,
    /// Uploads per second.
    UploadsPerSecond,
    /// Requests per second.
    RequestsPerSecond,
    /// Milliseconds (latency).
    Milliseconds,
    /// Microseconds (lock waits).
    Microseconds,
}

impl Unit {
    /// The value with its unit, e.g. `950 MB/s`.
    pub fn format(self, value: f64) -> String {
        match self {
            Self::MegabytesPerSecond => format!("{value:.0} MB/s"),
            Self::CpuSecondsPerGib => format!("{value:.2} CPU-s/GiB"),
            Self::CpuMillisPerUpload => format!("{value:.3} CPU-ms/upload"),
            Self::CpuMicrosPerRequest => format!("{value:.1} CPU-µs/req"),
            Self::Mebibytes => format!("{value:.1} MiB"),
            Self::UploadsPerSecond => format!("{value:.0} uploads/s"),
            Self::RequestsPerSecond => format!("{value:.0} req/s"),
            Self::Milliseconds => format!("{value:.2} ms"),
            Self::Microseconds => format!("{value:.0} µs"),
        }
    }
}

/// A target from the issue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// No target: the figure is for information.
    None,
    /// tus must reach at least this fraction of the ceiling.
    RatioAtLeast(f64),
    /// tus's figure must be at most this (in the row's unit).
    AtMost(f64),
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub scenario: String,
    /// The durability mode.
    pub mode: Durability,
    /// The tus server's figure (`None` when it failed).
    pub tus: Option<f64>,
    /// The ceiling's figure (`None` when it failed).
    pub ceiling: Option<f64>,
    /// How the figures are printed.
    pub unit: Unit,
    /// The target, if any.
    pub target: Target,
}

impl Row {
    /// tus's figure divided by the ceiling's.
    pub fn ratio(&self) -> Option<f64> {
        match (self.tus, self.ceiling) {
            (Some(tus), Some(ceiling)) if ceiling > 0.0 => Some(tus / ceiling),
            _ => None,
        }
    }

    /// Whether the target is met (`None` when there is no target or no figure).
    pub fn verdict(&self) -> Option<bool> {
        match self.target {
            Target::None => None,
            Target::RatioAtLeast(min) => self.ratio().map(|r| r >= min),
            Target::AtMost(max) => self.tus.map(|v| v <= max),
        }
    }

    fn target_text(&self) -> String {
        let verdict = match self.verdict() {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a",
        };
        match self.target {
            Target::None => String::new(),
            Target::RatioAtLeast(min) => format!("≥ {min:.2} × ceiling: **{verdict}**"),
            Target::AtMost(max) => format!("≤ {}: **{verdict}**", self.unit.format(max)),
        }
    }
}

/// Renders the rows as a markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| scenario | mode | tus | ceiling | ratio | target |\n|---|---|---:|---:|---:|---|\n");
    let cell = |value: Option<f64>, unit: Unit| value.map_or_else(|| "error".to_owned(), |v| unit.format(v));
    for row in rows {
        let ratio = row.ratio().map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.mode.as_str(),
            cell(row.tus, row.unit),
            cell(row.ceiling, row.unit),
            ratio,
            row.target_text()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tus: Option<f64>, ceiling: Option<f64>, target: Target) -> Row {
        Row { scenario: "x".into(), mode: Durability::Sync, tus, ceiling, unit: Unit::MegabytesPerSecond, target }
    }

    #[test]
    fn verdicts() {
        assert_eq!(row(Some(95.0), Some(100.0), Target::RatioAtLeast(0.9)).verdict(), Some(true));
        assert_eq!(row(Some(85.0), Some(100.0), Target::RatioAtLeast(0.9)).verdict(), Some(false));
        assert_eq!(row(None, Some(100.0), Target::RatioAtLeast(0.9)).verdict(), None);
        assert_eq!(row(Some(30.0), None, Target::AtMost(32.0)).verdict(), Some(true));
        assert_eq!(row(Some(33.0), None, Target::AtMost(32.0)).verdict(), Some(false));
        assert_eq!(row(Some(1.0), Some(2.0), Target::None).verdict(), None);
    }

    #[test]
    fn renders_markdown() {
        let text = table(&[row(Some(950.0), Some(1000.0), Target::RatioAtLeast(0.9))]);
        assert!(text.contains("| x | sync | 950 MB/s | 1000 MB/s | 0.95 | ≥ 0.90 × ceiling: **PASS** |"), "{text}");
    }
}
