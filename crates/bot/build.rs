// The same check as the IRC client's tests: whether a real IRC server (`inspircd`) is
// there for the bot's IRC tests (see crates/irc/build.rs).
include!("../irc/build.rs");
