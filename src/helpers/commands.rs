//! The retrigger commands packagers write in pull-request comments, e.g. `/packit-ci test
//! rpminspect --target eln`, and the replies the service posts about them.
//!
//! The grammar is packit-service's `get_comment_parser_fedora_ci` (an argparse parser) plus
//! `test --failed`. The command line is found as in `get_packit_commands_from_comment`: the
//! first non-empty line whose first whitespace-separated token is exactly the prefix and that
//! has something after it. Other lines are never read, so a long comment costs one pass.

use serde::{Deserialize, Serialize};

use crate::config::HelpContact;

/// Replies are read on Pagure; packit-service wraps its help at the same width
/// (`COMMENT_MAX_LINE_LENGTH`, `constants.py` l. 209).
const HELP_LINE_WIDTH: usize = 85;
/// A token quoted in a syntax error is cut to this many characters: errors go to logs, and a
/// comment may hold one enormous word.
const QUOTED_TOKEN_CHARS: usize = 60;

/// The `--target` of a command: which of the two Rawhide checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetChoice {
    Rawhide,
    Eln,
}

impl TargetChoice {
    fn from_argument(value: &str) -> Option<Self> {
        match value {
            "rawhide" => Some(TargetChoice::Rawhide),
            "eln" => Some(TargetChoice::Eln),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Help,
    /// `scratch-build [--target [eln|rawhide]]`
    ScratchBuild {
        target: Option<TargetChoice>,
    },
    /// `test [name] [--target [eln|rawhide]] [--failed]`
    Test {
        test: Option<String>,
        target: Option<TargetChoice>,
        failed_only: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentParse {
    /// No line starts with the prefix followed by a command: an ordinary comment, left alone
    /// (a bare prefix too, as packit-service's `get_packit_commands_from_comment` returns no
    /// command for it).
    NotACommand,
    Command(Command),
    /// The comment addresses the service but cannot be understood; the text says why, for
    /// logs. The user gets [`syntax_error_reply`].
    SyntaxError(String),
}

/// Parses a pull-request comment. `known_tests` are the tests a `test` command may name
/// (packit-service: the tests that apply to the pull request).
pub fn parse_comment(prefix: &str, text: &str, known_tests: &[&str]) -> CommentParse {
    match command_arguments(prefix, text) {
        None => CommentParse::NotACommand,
        Some(arguments) => match parse_arguments(&arguments, known_tests) {
            Ok(command) => CommentParse::Command(command),
            Err(error) => CommentParse::SyntaxError(error),
        },
    }
}

/// The reply to a comment that addresses the service but cannot be parsed: packit-service's
/// (`report_parsing_error_in_retriggering_comment`, `jobs.py` l. 1379-1405) with this
/// service's prefix and documentation.
pub fn syntax_error_reply(prefix: &str, documentation_url: &str) -> String {
    format!(
        "There appears to be a syntax error in the command provided. Please refer to the \
         [Fedora CI documentation]({documentation_url}) or use the `{prefix} help` command."
    )
}

/// The reply to `help`, in packit-service's shape (`GitCommentHelpHandler.run`,
/// `handlers/forges.py` l. 339-394): argparse's usage in a code block, the note, the contact
/// block and the documentation link. The code block also names the tests that apply to the
/// pull request and the options, which packit-service's help leaves out.
pub fn help_reply(
    prefix: &str,
    known_tests: &[&str],
    contacts: &[HelpContact],
    documentation_url: &str,
) -> String {
    let tests = if known_tests.is_empty() {
        "none applies to this pull request".to_owned()
    } else {
        format!("one of: {}", known_tests.join(", "))
    };
    let usage = [
        format!("usage: {prefix} {{help,test,scratch-build}} ..."),
        String::new(),
        "positional arguments:".to_owned(),
        "  {help,test,scratch-build}".to_owned(),
        "                        commands available".to_owned(),
        "    help                show this help message".to_owned(),
        "    test                run tests in Testing Farm".to_owned(),
        "    scratch-build       build package in Koji".to_owned(),
        String::new(),
        format!("usage: {prefix} test [--target [{{eln,rawhide}}]] [--failed] [TEST]"),
        format!("usage: {prefix} scratch-build [--target [{{eln,rawhide}}]]"),
        String::new(),
        "arguments:".to_owned(),
        wrap_at_commas(&format!("  TEST                  {tests}"), HELP_LINE_WIDTH),
        "  --target [{eln,rawhide}]".to_owned(),
        "                        run only the checks for this target (default: all)".to_owned(),
        "  --failed              re-run only the tests that did not pass".to_owned(),
    ]
    .join("\n");
    // The trailing spaces after "**Please note**:" and "**Documentation**:" are
    // packit-service's (`HELP_COMMENT_NOTE`, `HELP_COMMENT_DOCS`, `constants.py` l. 28, 35).
    let mut reply = format!(
        "```\n{usage}\n```\n\
         **Please note**: \n - `{prefix}` commands interact with Fedora CI jobs (e.g. \
         `scratch-build`, `test rpminspect`, etc.). If you are looking for help on the opt-in \
         packit jobs (e.g. `propose-downstream`, `pull-from-upstream`), refer to `/packit` or \
         `/packit-stg`. These assume a valid Packit configuration file is present in the \
         repo.\n\n"
    );
    if !contacts.is_empty() {
        reply.push_str("**Contact**:\n");
        for contact in contacts {
            reply.push_str(&format!(" - *{}*: {}\n", contact.label, contact.value));
        }
        reply.push('\n');
    }
    reply.push_str(&format!("**Documentation**: \n - {documentation_url}"));
    reply
}

/// The reply when someone outside the `packager` group tries to retrigger a check.
pub fn not_a_packager_reply(user: &str) -> String {
    format!("{user} is not a packager, retriggering is not allowed.")
}

/// The reply to a Forgejo command while Forgejo logins are not known to be FAS usernames
/// (`forgejo.logins_are_fas_usernames` unset): the packager check cannot be made, so it is
/// refused rather than guessed.
pub fn unverifiable_packager_reply(user: &str) -> String {
    format!(
        "{user}: retriggering is not allowed yet on Forgejo, because Forgejo accounts are not \
         known to be the FAS accounts of the same people, so the packager check cannot be made."
    )
}

/// The tokens after the prefix on the command line; `None` when no line holds the prefix
/// followed by something (a line holding only the prefix is skipped, as packit-service does).
fn command_arguments<'a>(prefix: &str, text: &'a str) -> Option<Vec<&'a str>> {
    text.split('\n').find_map(|line| {
        let mut tokens = line.split_whitespace();
        if tokens.next() != Some(prefix) {
            return None;
        }
        let arguments: Vec<&str> = tokens.collect();
        (!arguments.is_empty()).then_some(arguments)
    })
}

fn parse_arguments(arguments: &[&str], known_tests: &[&str]) -> Result<Command, String> {
    let Some((&subcommand, rest)) = arguments.split_first() else {
        return Err("no subcommand".to_owned());
    };
    match subcommand {
        // packit-service's `is_help_comment` (`jobs.py` l. 1331-1350) looks at the first
        // token only: `help me` is help too.
        "help" => Ok(Command::Help),
        "scratch-build" => parse_scratch_build(rest),
        "test" => parse_test(rest, known_tests),
        other => Err(format!("unknown subcommand {}", quoted(other))),
    }
}

fn parse_scratch_build(rest: &[&str]) -> Result<Command, String> {
    let parsed = parse_options(rest, false)?;
    if let Some(extra) = parsed.positionals.first() {
        return Err(format!(
            "scratch-build takes no arguments, got {}",
            quoted(extra)
        ));
    }
    Ok(Command::ScratchBuild {
        target: parsed.target,
    })
}

fn parse_test(rest: &[&str], known_tests: &[&str]) -> Result<Command, String> {
    let parsed = parse_options(rest, true)?;
    let test = match parsed.positionals.as_slice() {
        [] => None,
        [name] if known_tests.contains(name) => Some((*name).to_owned()),
        [name] => return Err(format!("unknown test {}", quoted(name))),
        [_, extra, ..] => return Err(format!("test takes one test name, got {}", quoted(extra))),
    };
    if parsed.failed_only && test.is_some() {
        return Err("--failed re-runs the failed tests and cannot name one".to_owned());
    }
    Ok(Command::Test {
        test,
        target: parsed.target,
        failed_only: parsed.failed_only,
    })
}

/// The options and positional arguments of a subcommand, in argparse's manner: options may
/// come before or after positionals, `--target` takes its value as `--target eln` or
/// `--target=eln` (the last one given wins), and `--` ends the options. `--target` without a
/// value (at the end, or before another option) means every target, as argparse's
/// `nargs="?"` gives `None` (`get_comment_parser_fedora_ci`, `utils.py` l. 340-381).
struct ParsedOptions<'a> {
    target: Option<TargetChoice>,
    failed_only: bool,
    positionals: Vec<&'a str>,
}

fn parse_options<'a>(
    tokens: &[&'a str],
    accepts_failed: bool,
) -> Result<ParsedOptions<'a>, String> {
    let mut parsed = ParsedOptions {
        target: None,
        failed_only: false,
        positionals: Vec::new(),
    };
    let mut remaining = tokens.iter().copied().peekable();
    while let Some(token) = remaining.next() {
        if token == "--" {
            parsed.positionals.extend(remaining.by_ref());
            break;
        }
        if !looks_like_option(token) {
            parsed.positionals.push(token);
            continue;
        }
        let (name, inline_value) = match token.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (token, None),
        };
        match name {
            "--target" => {
                let value = match inline_value {
                    Some(value) => Some(value),
                    None => remaining.next_if(|value| !looks_like_option(value)),
                };
                parsed.target = value.map(target_value).transpose()?;
            }
            "--failed" if accepts_failed && inline_value.is_none() => parsed.failed_only = true,
            _ => return Err(format!("unknown option {}", quoted(token))),
        }
    }
    Ok(parsed)
}

/// argparse treats a lone `-` as a positional argument, anything else starting with `-` as
/// an option.
fn looks_like_option(token: &str) -> bool {
    token.starts_with('-') && token != "-"
}

fn target_value(value: &str) -> Result<TargetChoice, String> {
    TargetChoice::from_argument(value)
        .ok_or_else(|| format!("--target must be eln or rawhide, got {}", quoted(value)))
}

/// A user's token for a log line, cut short and with control characters escaped.
fn quoted(token: &str) -> String {
    let mut short: String = token.chars().take(QUOTED_TOKEN_CHARS).collect();
    if short.len() < token.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// Breaks a long line after commas so no line exceeds `width` characters where possible;
/// continuation lines are indented under the text after the first `: `.
fn wrap_at_commas(text: &str, width: usize) -> String {
    let indent = text.find(": ").map_or(0, |position| position + 2);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for piece in text.split_inclusive(", ") {
        let fits = current.chars().count() + piece.trim_end().chars().count() <= width;
        if !current.is_empty() && !fits {
            lines.push(current.trim_end().to_owned());
            current = " ".repeat(indent);
        }
        current.push_str(piece);
    }
    lines.push(current.trim_end().to_owned());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "/packit-ci";
    const TESTS: &[&str] = &[
        "installability",
        "rpminspect",
        "rpmlint",
        "rmdepcheck",
        "license-validate",
        "custom",
    ];

    fn parse(text: &str) -> CommentParse {
        parse_comment(PREFIX, text, TESTS)
    }

    fn command(text: &str) -> Command {
        match parse(text) {
            CommentParse::Command(command) => command,
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }

    fn is_syntax_error(text: &str) -> bool {
        matches!(parse(text), CommentParse::SyntaxError(_))
    }

    fn test_command(
        test: Option<&str>,
        target: Option<TargetChoice>,
        failed_only: bool,
    ) -> Command {
        Command::Test {
            test: test.map(str::to_owned),
            target,
            failed_only,
        }
    }

    #[test]
    fn ordinary_comments_are_not_commands() {
        for text in [
            "",
            "   \n\n  ",
            "LGTM, thanks!",
            "please run /packit-ci test",
            "/packit-ci-foo test",
            "/packit-ci-stg test",
            "/packit test",
            "/PACKIT-CI test",
            "`/packit-ci test`",
            // A bare prefix: packit-service's `get_packit_commands_from_comment` finds no
            // command (`utils.py` l. 218-236), so the comment is ignored without a reply.
            "/packit-ci",
            "  /packit-ci   ",
            "/packit-ci\nplease test it",
        ] {
            assert_eq!(parse(text), CommentParse::NotACommand, "{text:?}");
        }
    }

    #[test]
    fn the_prefix_is_configurable() {
        assert_eq!(
            parse_comment("/packit-ci-stg", "/packit-ci-stg help", TESTS),
            CommentParse::Command(Command::Help)
        );
        assert_eq!(
            parse_comment("/packit-ci-stg", "/packit-ci help", TESTS),
            CommentParse::NotACommand
        );
    }

    #[test]
    fn help() {
        assert_eq!(command("/packit-ci help"), Command::Help);
        // packit-service's `is_help_comment` reads only the first token (`jobs.py` l. 1331-1350).
        assert_eq!(command("/packit-ci help me"), Command::Help);
        assert_eq!(command("/packit-ci help --target eln"), Command::Help);
    }

    #[test]
    fn scratch_build() {
        assert_eq!(
            command("/packit-ci scratch-build"),
            Command::ScratchBuild { target: None }
        );
        assert_eq!(
            command("/packit-ci scratch-build --target eln"),
            Command::ScratchBuild {
                target: Some(TargetChoice::Eln)
            }
        );
        assert_eq!(
            command("/packit-ci scratch-build --target=rawhide"),
            Command::ScratchBuild {
                target: Some(TargetChoice::Rawhide)
            }
        );
        assert!(is_syntax_error("/packit-ci scratch-build now"));
        assert!(is_syntax_error("/packit-ci scratch-build --failed"));
        assert!(is_syntax_error("/packit-ci scratch-build --target f42"));
        // `--target` has `nargs="?"` in packit-service's parser (`utils.py` l. 340-381):
        // without a value it means every target.
        assert_eq!(
            command("/packit-ci scratch-build --target"),
            Command::ScratchBuild { target: None }
        );
    }

    #[test]
    fn test_without_arguments_runs_everything() {
        assert_eq!(command("/packit-ci test"), test_command(None, None, false));
    }

    #[test]
    fn test_names_one_known_test() {
        assert_eq!(
            command("/packit-ci test rpminspect"),
            test_command(Some("rpminspect"), None, false)
        );
        assert_eq!(
            command("/packit-ci test license-validate --target eln"),
            test_command(Some("license-validate"), Some(TargetChoice::Eln), false)
        );
        assert_eq!(
            command("/packit-ci test --target=eln custom"),
            test_command(Some("custom"), Some(TargetChoice::Eln), false)
        );
        assert!(is_syntax_error("/packit-ci test fedora-review"));
        assert!(is_syntax_error("/packit-ci test rpminspect rpmlint"));
        assert!(is_syntax_error("/packit-ci test RPMINSPECT"));
    }

    #[test]
    fn known_tests_come_from_the_caller() {
        assert_eq!(
            parse_comment(PREFIX, "/packit-ci test custom", &["custom"]),
            CommentParse::Command(test_command(Some("custom"), None, false))
        );
        assert!(matches!(
            parse_comment(PREFIX, "/packit-ci test rpminspect", &["custom"]),
            CommentParse::SyntaxError(_)
        ));
        assert!(matches!(
            parse_comment(PREFIX, "/packit-ci test rpminspect", &[]),
            CommentParse::SyntaxError(_)
        ));
    }

    #[test]
    fn failed_reruns_all_failed_tests() {
        assert_eq!(
            command("/packit-ci test --failed"),
            test_command(None, None, true)
        );
        assert_eq!(
            command("/packit-ci test --target rawhide --failed"),
            test_command(None, Some(TargetChoice::Rawhide), true)
        );
        assert!(is_syntax_error("/packit-ci test rpmlint --failed"));
        assert!(is_syntax_error("/packit-ci test --failed rpmlint"));
        assert!(is_syntax_error("/packit-ci test --failed=yes"));
    }

    #[test]
    fn target_values() {
        assert_eq!(
            command("/packit-ci test --target eln --target rawhide"),
            test_command(None, Some(TargetChoice::Rawhide), false),
            "the last --target wins, as in argparse"
        );
        assert_eq!(
            command("/packit-ci test --target"),
            test_command(None, None, false),
            "no value: every target, as argparse's nargs='?'"
        );
        assert_eq!(
            command("/packit-ci test rpminspect --target"),
            test_command(Some("rpminspect"), None, false)
        );
        assert_eq!(
            command("/packit-ci test --target eln --target"),
            test_command(None, None, false),
            "the last --target wins, even without a value"
        );
        assert_eq!(
            command("/packit-ci test --target --failed"),
            test_command(None, None, true)
        );
        for text in [
            "/packit-ci test --target rpminspect",
            "/packit-ci test --target=",
            "/packit-ci test --target f42",
            "/packit-ci test --target ELN",
            "/packit-ci test --target=eln=rawhide",
            "/packit-ci test --targets eln",
            "/packit-ci test -t eln",
        ] {
            assert!(is_syntax_error(text), "{text:?}");
        }
    }

    #[test]
    fn malformed_commands_are_syntax_errors() {
        for text in [
            "/packit-ci build",
            "/packit-ci copr-build",
            "/packit-ci --target eln test",
            "/packit-ci test --help",
            "/packit-ci test -",
            "/packit-ci test -- --failed",
        ] {
            assert!(is_syntax_error(text), "{text:?}");
        }
    }

    #[test]
    fn double_dash_ends_the_options() {
        assert_eq!(
            command("/packit-ci test -- rpmlint"),
            test_command(Some("rpmlint"), None, false)
        );
    }

    #[test]
    fn the_first_line_with_the_prefix_and_arguments_is_the_command() {
        let text = "Rebuilt with the new tarball.\n\n  /packit-ci   test\trpmlint  \r\n\
                    /packit-ci scratch-build\nthis line is not read --target";
        assert_eq!(command(text), test_command(Some("rpmlint"), None, false));
        assert_eq!(
            command("/packit-ci\n/packit-ci help"),
            Command::Help,
            "a bare prefix line is skipped, as packit-service does"
        );
        assert_eq!(
            command("/packit-ci test\n--failed"),
            test_command(None, None, false),
            "arguments on later lines are not read"
        );
        assert!(
            is_syntax_error("/packit-ci nonsense\n/packit-ci test"),
            "only the first command line counts"
        );
    }

    #[test]
    fn unicode_and_shell_metacharacters_are_just_tokens() {
        for text in [
            "/packit-ci test $(rm -rf /)",
            "/packit-ci test; echo pwned",
            "/packit-ci test `id` && true | cat > /etc/passwd",
            "/packit-ci tëst",
            "/packit-ci test rpminspect\u{0}",
            "/packit-ci test 🦀",
        ] {
            assert!(is_syntax_error(text), "{text:?}");
        }
        assert_eq!(
            command("/packit-ci\u{00a0}test"),
            test_command(None, None, false),
            "non-breaking space separates tokens, as Python's str.split() does"
        );
        assert_eq!(
            command("Díky! 🎉\n/packit-ci help\nŽluťoučký kůň"),
            Command::Help
        );
    }

    #[test]
    fn syntax_errors_quote_the_offending_token_briefly() {
        let long_name = "x".repeat(10_000);
        let CommentParse::SyntaxError(error) = parse(&format!("/packit-ci test {long_name}"))
        else {
            panic!("not a syntax error");
        };
        assert!(error.len() < 200, "{error}");
        assert!(error.contains("unknown test"), "{error}");
        let CommentParse::SyntaxError(error) = parse("/packit-ci test \u{1b}[31mred") else {
            panic!("not a syntax error");
        };
        assert!(!error.contains('\u{1b}'), "{error}");
    }

    #[test]
    fn huge_comments_parse_in_one_pass() {
        let mut text = "just a line of text that mentions /packit-ci test\n".repeat(10_000);
        text.push_str("/packit-ci test --failed\n");
        text.push_str(&"/packit-ci test rpmlint\n".repeat(10_000));
        assert_eq!(command(&text), test_command(None, None, true));

        let many_arguments = format!("/packit-ci test {}", "--target eln ".repeat(50_000));
        assert_eq!(
            command(&many_arguments),
            test_command(None, Some(TargetChoice::Eln), false)
        );
        let many_positionals = format!("/packit-ci test {}", "rpmlint ".repeat(50_000));
        assert!(is_syntax_error(&many_positionals));
        assert_eq!(parse(&"\n".repeat(100_000)), CommentParse::NotACommand);
    }

    #[test]
    fn target_choice_serializes_lowercase() {
        assert_eq!(
            serde_json::to_value(TargetChoice::Eln).ok(),
            Some(serde_json::json!("eln"))
        );
        let command = test_command(Some("custom"), Some(TargetChoice::Rawhide), false);
        let round_trip: Option<Command> = serde_json::to_string(&command)
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok());
        assert_eq!(round_trip, Some(command));
    }

    const DOCS: &str = "https://docs.fedoraproject.org/en-US/ci/";

    #[test]
    fn replies() {
        // packit-service: "There appears to be a syntax error in the command provided. Please
        // refer to the [Packit Fedora CI documentation](https://packit.dev/fedora-ci/retriggering)
        // or use the `/packit-ci help` command." (`jobs.py` l. 1379-1405); the prefix and the
        // documentation are this service's.
        assert_eq!(
            syntax_error_reply("/packit-ci-stg", DOCS),
            "There appears to be a syntax error in the command provided. Please refer to the \
             [Fedora CI documentation](https://docs.fedoraproject.org/en-US/ci/) or use the \
             `/packit-ci-stg help` command."
        );
        assert_eq!(
            not_a_packager_reply("zbyszek"),
            "zbyszek is not a packager, retriggering is not allowed."
        );
    }

    fn contacts() -> Vec<HelpContact> {
        vec![
            HelpContact::new("Email", "ci@lists.fedoraproject.org"),
            HelpContact::new("Chat", "#fedora-ci on Libera.Chat and Matrix"),
        ]
    }

    /// packit-service's help (computed from `get_comment_parser_fedora_ci` and the
    /// `HELP_COMMENT_*` constants, `constants.py` l. 23-52, `handlers/forges.py` l. 339-394)
    /// is the first code-block section, the note, **Contact** and **Documentation**; the
    /// second usage section (tests and options) is this service's addition.
    #[test]
    fn help_reply_text() {
        let expected = "\
```
usage: /packit-ci {help,test,scratch-build} ...

positional arguments:
  {help,test,scratch-build}
                        commands available
    help                show this help message
    test                run tests in Testing Farm
    scratch-build       build package in Koji

usage: /packit-ci test [--target [{eln,rawhide}]] [--failed] [TEST]
usage: /packit-ci scratch-build [--target [{eln,rawhide}]]

arguments:
  TEST                  one of: installability, rpminspect, rpmlint, rmdepcheck,
                                license-validate, custom
  --target [{eln,rawhide}]
                        run only the checks for this target (default: all)
  --failed              re-run only the tests that did not pass
```
**Please note**: \n - `/packit-ci` commands interact with Fedora CI jobs (e.g. `scratch-build`, \
`test rpminspect`, etc.). If you are looking for help on the opt-in packit jobs (e.g. \
`propose-downstream`, `pull-from-upstream`), refer to `/packit` or `/packit-stg`. These assume a \
valid Packit configuration file is present in the repo.

**Contact**:
 - *Email*: ci@lists.fedoraproject.org
 - *Chat*: #fedora-ci on Libera.Chat and Matrix

**Documentation**: \n - https://docs.fedoraproject.org/en-US/ci/";
        assert_eq!(help_reply(PREFIX, TESTS, &contacts(), DOCS), expected);
    }

    #[test]
    fn help_reply_uses_the_prefix_and_copes_without_tests_or_contacts() {
        let reply = help_reply("/packit-ci-stg", &[], &[], DOCS);
        assert!(
            reply.starts_with("```\nusage: /packit-ci-stg {help,test,scratch-build} ...\n"),
            "{reply}"
        );
        assert!(
            reply.contains("TEST                  none applies"),
            "{reply}"
        );
        assert!(!reply.contains("/packit-ci "), "{reply}");
        assert!(!reply.contains("**Contact**"), "{reply}");
        assert!(
            reply.ends_with("**Documentation**: \n - https://docs.fedoraproject.org/en-US/ci/")
        );
    }

    #[test]
    fn help_lines_fit_the_width() {
        let many: Vec<String> = (0..40).map(|n| format!("shared-test-{n}")).collect();
        let names: Vec<&str> = many.iter().map(String::as_str).collect();
        let reply = help_reply(PREFIX, &names, &contacts(), DOCS);
        let code_block = reply.split("```").nth(1).unwrap_or_default();
        for line in code_block.lines() {
            assert!(line.chars().count() <= HELP_LINE_WIDTH, "{line:?}");
        }
        for name in names {
            assert!(code_block.contains(name), "{name}");
        }
    }
}
