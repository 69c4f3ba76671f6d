//! Getting npm packages without a Node project: `npm pack NAME@VERSION` into a cache folder,
//! unpacked there once (pure Rust gzip and tar), or taken from a folder the user already has.
//!
//! Cache layout: `<cache>/npm/<stem>.tgz` (npm's own file name, `@scope/name@1.2.3` ->
//! `scope-name-1.2.3.tgz`) and `<cache>/npm/<stem>/package/...` with a `.complete` marker
//! written after a full unpack, so an interrupted unpack is redone.
//!
//! A local folder (`--packages DIR`, no network needed) may hold, for each package, any of:
//! `DIR/<stem>.tgz`, `DIR/<stem>/package/package.json` (an unpacked tarball), or
//! `DIR/<name>/package.json` (a `node_modules` layout, scoped names as `@scope/name`). The
//! package's `package.json` version must match.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::DataError;

/// One npm package at one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpmPackage {
    /// The package name, possibly scoped (`@iconify-json/noto`).
    pub name: &'static str,
    /// The exact version.
    pub version: &'static str,
}

impl NpmPackage {
    /// `name@version`.
    pub fn spec(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// npm's tarball stem: `@scope/name` -> `scope-name-version`.
    pub fn stem(&self) -> String {
        let bare = self.name.trim_start_matches('@').replace('/', "-");
        format!("{bare}-{}", self.version)
    }
}

/// Where packages come from.
#[derive(Debug, Clone)]
pub enum PackageSource {
    /// `npm pack` into `<cache>/npm` when missing.
    Cache(PathBuf),
    /// A folder of packages already fetched (never runs npm).
    Local(PathBuf),
}

impl PackageSource {
    /// The unpacked package folder (the one holding `package.json`).
    pub fn get(&self, pkg: &NpmPackage) -> Result<PathBuf, DataError> {
        match self {
            PackageSource::Cache(cache) => fetch_into_cache(pkg, &cache.join("npm")),
            PackageSource::Local(dir) => find_local(pkg, dir),
        }
    }
}

/// Fetches (if needed) and unpacks (if needed) a package into `npm_dir`.
pub fn fetch_into_cache(pkg: &NpmPackage, npm_dir: &Path) -> Result<PathBuf, DataError> {
    let stem = pkg.stem();
    let unpacked = npm_dir.join(&stem);
    let marker = unpacked.join(".complete");
    if marker.is_file() {
        return Ok(unpacked.join("package"));
    }
    std::fs::create_dir_all(npm_dir).map_err(|e| DataError::io(npm_dir, &e))?;
    let tgz = npm_dir.join(format!("{stem}.tgz"));
    if !tgz.is_file() {
        // Pack into a private folder and move the finished tarball, so an interrupted
        // download never leaves a truncated tarball under the final name.
        let staging = npm_dir.join(format!(".pack-{stem}-{}", std::process::id()));
        std::fs::create_dir_all(&staging).map_err(|e| DataError::io(&staging, &e))?;
        let packed = npm_pack(pkg, &staging).and_then(|()| {
            let got = staging.join(format!("{stem}.tgz"));
            if !got.is_file() {
                return Err(DataError::Command {
                    command: format!("npm pack {}", pkg.spec()),
                    message: format!("it finished but {} does not exist", got.display()),
                });
            }
            std::fs::rename(&got, &tgz).map_err(|e| DataError::io(&tgz, &e))
        });
        std::fs::remove_dir_all(&staging).ok();
        packed?;
    }
    if unpacked.exists() {
        std::fs::remove_dir_all(&unpacked).map_err(|e| DataError::io(&unpacked, &e))?;
    }
    unpack_tgz(&tgz, &unpacked)?;
    std::fs::write(&marker, b"").map_err(|e| DataError::io(&marker, &e))?;
    verify_version(pkg, &unpacked.join("package"))?;
    Ok(unpacked.join("package"))
}

/// Runs `npm pack NAME@VERSION --pack-destination DIR`.
fn npm_pack(pkg: &NpmPackage, dir: &Path) -> Result<(), DataError> {
    let command = format!(
        "npm pack {} --pack-destination {}",
        pkg.spec(),
        dir.display()
    );
    let output = Command::new("npm")
        .args(["pack", &pkg.spec(), "--silent", "--pack-destination"])
        .arg(dir)
        .output()
        .map_err(|e| DataError::Command {
            command: command.clone(),
            message: format!("{e} (is npm installed? `apt-get install npm`)"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.lines().rev().take(6).collect::<Vec<_>>().join(" | ");
        return Err(DataError::Command {
            command,
            message: format!("{}: {tail}", output.status),
        });
    }
    Ok(())
}

/// Unpacks a gzip'd tar into `dest` (entries keep their paths, normally `package/...`).
pub fn unpack_tgz(tgz: &Path, dest: &Path) -> Result<(), DataError> {
    let file = std::fs::File::open(tgz).map_err(|e| DataError::io(tgz, &e))?;
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::io::BufReader::new(file)),
        &mut tar,
    )
    .map_err(|e| DataError::Format {
        path: tgz.display().to_string(),
        detail: format!("not a gzip'd tar: {e}"),
    })?;
    std::fs::create_dir_all(dest).map_err(|e| DataError::io(dest, &e))?;
    let mut archive = crate::tarfile::TarReader::with_capacity(std::io::Cursor::new(tar), 1 << 16)
        .map_err(|e| DataError::io(tgz, &e))?;
    crate::tarfile::unpack(&mut archive, dest)
        .map(|_| ())
        .map_err(|e| DataError::Format {
            path: tgz.display().to_string(),
            detail: format!("cannot unpack into {}: {e}", dest.display()),
        })
}

/// Finds an already-fetched package under `dir` (see the module header).
pub fn find_local(pkg: &NpmPackage, dir: &Path) -> Result<PathBuf, DataError> {
    let stem = pkg.stem();
    let candidates = [dir.join(&stem).join("package"), dir.join(pkg.name)];
    for c in &candidates {
        if c.join("package.json").is_file() {
            verify_version(pkg, c)?;
            return Ok(c.clone());
        }
    }
    let tgz = dir.join(format!("{stem}.tgz"));
    if tgz.is_file() {
        // Unpack beside the tarball, as the cache does.
        return fetch_into_cache(pkg, dir);
    }
    Err(DataError::MissingData {
        path: format!(
            "{} (nor {} or {})",
            candidates[0].display(),
            candidates[1].display(),
            tgz.display()
        ),
        install: format!(
            "fetch it with `npm pack {}` into {} (or leave out --packages to fetch into the cache)",
            pkg.spec(),
            dir.display()
        ),
    })
}

/// Checks that `dir/package.json` names the expected version.
fn verify_version(pkg: &NpmPackage, dir: &Path) -> Result<(), DataError> {
    let path = dir.join("package.json");
    let json = super::read_json(&path)?;
    match json.get("version").and_then(|v| v.as_str()) {
        Some(v) if v == pkg.version => Ok(()),
        other => Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!(
                "version is {:?}, expected {} for {}",
                other.unwrap_or("missing"),
                pkg.version,
                pkg.name
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_follow_npm_pack_naming() {
        let p = NpmPackage {
            name: "@iconify-json/noto",
            version: "1.2.9",
        };
        assert_eq!(p.stem(), "iconify-json-noto-1.2.9");
        assert_eq!(p.spec(), "@iconify-json/noto@1.2.9");
        let q = NpmPackage {
            name: "emojibase-data",
            version: "17.0.0",
        };
        assert_eq!(q.stem(), "emojibase-data-17.0.0");
    }

    #[test]
    fn missing_local_package_says_how_to_fetch_it() {
        let p = NpmPackage {
            name: "@iconify-json/noto",
            version: "1.2.9",
        };
        let err = find_local(&p, Path::new("/nonexistent-dir")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("npm pack @iconify-json/noto@1.2.9"), "{msg}");
    }
}
