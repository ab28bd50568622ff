//! The seeded generator: one small PRNG per sequence (SplitMix64, so a seed printed by a
//! failure replays the same steps on any machine) and the steps it draws.

use std::fmt;

/// SplitMix64: tiny, fast and well mixed; enough for choosing steps.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The SplitMix64 finaliser, also used to derive outcomes from a seed and a name.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable hash of a seed and some text (FNV-1a, then mixed): outcomes must not depend on
/// the order in which things happen, only on what they are.
pub fn hash(seed: u64, text: &str) -> u64 {
    let mut value = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for byte in text.bytes() {
        value ^= u64::from(byte);
        value = value.wrapping_mul(0x0100_0000_01b3);
    }
    mix(value)
}

/// The tests of `[[fedora_ci_tests]]` a project without `.fmf/version` gets (no `custom`).
pub const TESTS: [&str; 5] = [
    "installability",
    "rpminspect",
    "rpmlint",
    "rmdepcheck",
    "license-validate",
];

/// The external services an outage can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Koji,
    TestingFarm,
    Pagure,
    LogDetective,
}

impl Service {
    /// How the service's own flags name it ("Koji is unavailable; ..."), on a sequence whose
    /// pull requests live on `forge` (`Pagure` stands for the sequence's forge).
    pub fn name(self, forge: fedora_ci::events::ForgeKind) -> &'static str {
        match self {
            Service::Koji => "Koji",
            Service::TestingFarm => "Testing Farm",
            Service::Pagure => match forge {
                fedora_ci::events::ForgeKind::Pagure => "Pagure",
                fedora_ci::events::ForgeKind::Forgejo => "Forgejo",
            },
            Service::LogDetective => "Log Detective",
        }
    }
}

/// How Pagure tells of a pull request's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrTopic {
    New,
    Updated,
    Rebased,
}

/// A `/packit-ci-stg` comment (or something that looks like one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentKind {
    ScratchBuild,
    ScratchBuildEln,
    Test,
    TestEln,
    TestName(&'static str),
    TestFailed,
    /// A misspelt command: the service answers with help, nothing else.
    Typo,
    /// A real command from someone who is not a packager: refused.
    NonPackager,
}

impl CommentKind {
    pub fn text(&self, prefix: &str) -> String {
        match self {
            CommentKind::ScratchBuild | CommentKind::NonPackager => {
                format!("{prefix} scratch-build")
            }
            CommentKind::ScratchBuildEln => format!("{prefix} scratch-build --target eln"),
            CommentKind::Test => format!("{prefix} test"),
            CommentKind::TestEln => format!("{prefix} test --target eln"),
            CommentKind::TestName(name) => format!("{prefix} test {name}"),
            CommentKind::TestFailed => format!("{prefix} test --failed"),
            CommentKind::Typo => format!("{prefix} scratch-biuld"),
        }
    }

    /// Whether a packager's comment of this kind asks for work.
    pub fn is_command(&self) -> bool {
        !matches!(self, CommentKind::Typo | CommentKind::NonPackager)
    }
}

/// One step of a sequence. PRs are numbered 0.. within the sequence; `pick` numbers choose
/// among what exists when the step runs (modulo its count), so every step is valid.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `pull-request.new` for PR `pr` (its first head).
    Open {
        pr: usize,
    },
    /// A new head pushed, told by `updated` or `rebased`.
    Push {
        pr: usize,
        topic: PrTopic,
    },
    /// The same head told again (Pagure re-sends for edits, rebases without change).
    Resend {
        pr: usize,
        topic: PrTopic,
    },
    /// A title edit: `updated` with the same head and another title.
    TitleEdit {
        pr: usize,
    },
    Comment {
        pr: usize,
        kind: CommentKind,
    },
    /// An earlier comment delivered again, same comment id and text.
    CommentAgain {
        pick: u64,
    },
    /// The fake hub moves a build on (FREE → OPEN → CLOSED/FAILED); its messages wait on
    /// the bus until a `KojiDeliver`.
    KojiProgress {
        pick: u64,
    },
    /// The waiting Koji messages delivered, in order or not, some twice.
    KojiDeliver {
        reversed: bool,
        duplicate: bool,
    },
    /// An old Koji message delivered again (late).
    KojiLate {
        pick: u64,
    },
    /// An old Koji message whose body claims the other final state (a lying body).
    KojiForged {
        pick: u64,
    },
    /// Testing Farm moves a request one state on; the webhook waits until `TfDeliver`.
    TfProgress {
        pick: u64,
    },
    TfDeliver {
        duplicate: bool,
    },
    /// A webhook for any request so far, superseded commits' included (late or duplicated).
    TfLate {
        pick: u64,
    },
    /// Log Detective's result for an analysis it was asked for (the bus message).
    LdResult {
        pick: u64,
    },
    /// A service down for `minutes` of service time, from now on.
    Outage {
        service: Service,
        minutes: u64,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A generated sequence: its seed, whether its PRs get ELN builds, and its steps.
#[derive(Clone, Debug)]
pub struct Sequence {
    pub seed: u64,
    pub prs: usize,
    /// The project has no `eln` branch, so rawhide PRs also build and test for ELN.
    pub eln: bool,
    pub steps: Vec<Step>,
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} ({} PRs, eln {}):",
            self.seed, self.prs, self.eln
        )?;
        for (index, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {index:2}. {step}")?;
        }
        Ok(())
    }
}

/// The longest outage drawn, in service minutes (8 h: longer than the 6 h budget).
pub const MAX_OUTAGE_MINUTES: u64 = 8 * 60;

pub fn generate(seed: u64) -> Sequence {
    let mut rng = Rng::new(seed);
    let prs = 1 + rng.below(3) as usize;
    let eln = rng.chance(40);
    let length = 5 + rng.below(26) as usize;
    let mut opened = vec![false; prs];
    let mut steps = Vec::with_capacity(length + prs);
    let mut outages = 0;
    // Every PR is opened before anything else happens to it; the first step opens PR 0.
    steps.push(Step::Open { pr: 0 });
    opened[0] = true;
    let mut comments = 0;
    while steps.len() < length {
        let pr = rng.below(prs as u64) as usize;
        if !opened[pr] {
            opened[pr] = true;
            steps.push(Step::Open { pr });
            continue;
        }
        let pick = rng.next_u64() >> 8;
        let step = match rng.below(100) {
            0..=6 => Step::Push {
                pr,
                topic: *rng.pick(&[PrTopic::Updated, PrTopic::Rebased]),
            },
            7..=10 => Step::Resend {
                pr,
                topic: *rng.pick(&[PrTopic::New, PrTopic::Updated, PrTopic::Rebased]),
            },
            11..=13 => Step::TitleEdit { pr },
            14..=27 => {
                comments += 1;
                let kind = match rng.below(9) {
                    0 => CommentKind::ScratchBuild,
                    1 => CommentKind::ScratchBuildEln,
                    2 => CommentKind::Test,
                    3 => CommentKind::TestEln,
                    4 => CommentKind::TestName(TESTS[rng.below(TESTS.len() as u64) as usize]),
                    5 => CommentKind::TestFailed,
                    6 => CommentKind::Typo,
                    _ => CommentKind::NonPackager,
                };
                Step::Comment { pr, kind }
            }
            28..=30 if comments > 0 => Step::CommentAgain { pick },
            28..=48 => Step::KojiProgress { pick },
            49..=58 => Step::KojiDeliver {
                reversed: rng.chance(40),
                duplicate: rng.chance(30),
            },
            59..=62 => Step::KojiLate { pick },
            63..=64 => Step::KojiForged { pick },
            65..=78 => Step::TfProgress { pick },
            79..=85 => Step::TfDeliver {
                duplicate: rng.chance(30),
            },
            86..=88 => Step::TfLate { pick },
            89..=93 => Step::LdResult { pick },
            _ if outages < 2 => {
                outages += 1;
                let service = *rng.pick(&[
                    Service::Koji,
                    Service::TestingFarm,
                    Service::Pagure,
                    Service::LogDetective,
                ]);
                // Half short (recovered well within the budget), half anywhere up to 8 h.
                let minutes = if rng.chance(50) {
                    5 + rng.below(150)
                } else {
                    5 + rng.below(MAX_OUTAGE_MINUTES - 5)
                };
                Step::Outage { service, minutes }
            }
            _ => Step::KojiProgress { pick },
        };
        steps.push(step);
    }
    Sequence {
        seed,
        prs,
        eln,
        steps,
    }
}
