//! The configuration file, taken the same way by every command: positionally
//! (`rosey run CONFIG`, `rosey stats CONFIG`) or as `--config CONFIG`. (`rosey say` and
//! `rosey db backup`, whose positionals are a message and a file, take it after those or as
//! `--config`.)

use std::{
    ops::Deref,
    path::{Path, PathBuf},
};

/// An optional configuration file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigFile {
    /// Configuration file (v2); also `--config CONFIG`.
    #[arg(id = "config_file", value_name = "CONFIG")]
    file: Option<PathBuf>,
    /// Configuration file (v2), the same as the positional CONFIG.
    #[arg(
        id = "config_flag",
        long = "config",
        value_name = "CONFIG",
        conflicts_with = "config_file"
    )]
    flag: Option<PathBuf>,
}

impl ConfigFile {
    /// The file, however it was given.
    pub fn as_deref(&self) -> Option<&Path> {
        self.file.as_deref().or(self.flag.as_deref())
    }
}

/// A configuration file the command cannot run without.
#[derive(clap::Args, Debug, Clone)]
pub struct RequiredConfigFile {
    /// Configuration file (v2); also `--config CONFIG`.
    #[arg(
        id = "config_file",
        value_name = "CONFIG",
        required_unless_present = "config_flag"
    )]
    file: Option<PathBuf>,
    /// Configuration file (v2), the same as the positional CONFIG.
    #[arg(
        id = "config_flag",
        long = "config",
        value_name = "CONFIG",
        conflicts_with = "config_file"
    )]
    flag: Option<PathBuf>,
}

impl Deref for RequiredConfigFile {
    type Target = Path;

    /// The file (clap makes sure one of the two was given).
    fn deref(&self) -> &Path {
        self.file
            .as_deref()
            .or(self.flag.as_deref())
            .unwrap_or(Path::new(""))
    }
}
