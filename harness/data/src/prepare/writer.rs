//! WebDataset shard writer: plain tar files of `key.ext` members, a fixed number of samples per
//! shard, fixed metadata (mode 0644, mtime 0, uid/gid 0; [`crate::tarfile::TarWriter`]) so
//! output is reproducible. Each shard
//! is written as `<name>.tar.tmp` and renamed to `<name>.tar` when closed. Finishing writes
//! open_clip's `sizes.json` beside the shards (`{"train-000000.tar": 5000, ...}`).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::tarfile::TarWriter;

/// Writes the samples of one split to `<dir>/<prefix>-NNNNNN.tar`.
pub(crate) struct ShardWriter {
    dir: PathBuf,
    prefix: String,
    per_shard: usize,
    current: Option<(TarWriter<BufWriter<File>>, PathBuf, PathBuf)>,
    in_current: usize,
    shards: Vec<PathBuf>,
    sizes: Vec<usize>,
    samples: usize,
}

impl ShardWriter {
    /// A writer into `dir` (created), at most `per_shard` samples per tar (at least 1).
    pub(crate) fn new(dir: &Path, prefix: &str, per_shard: usize) -> Result<Self, DataError> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, &e))?;
        Ok(Self {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            per_shard: per_shard.max(1),
            current: None,
            in_current: 0,
            shards: Vec::new(),
            sizes: Vec::new(),
            samples: 0,
        })
    }

    /// Appends one sample: `members` are `(extension, bytes)`, stored as `key.extension`.
    /// Keys must be free of `.` and `/` (WebDataset splits the key at the first dot).
    pub(crate) fn write(&mut self, key: &str, members: &[(&str, &[u8])]) -> Result<(), DataError> {
        if key.is_empty() || key.contains(['.', '/']) {
            return Err(DataError::Format {
                path: self.dir.display().to_string(),
                detail: format!("sample key {key:?} is empty or holds '.' or '/'"),
            });
        }
        if self.current.is_none() || self.in_current >= self.per_shard {
            self.close_current()?;
            let name = format!("{}-{:06}.tar", self.prefix, self.shards.len());
            let path = self.dir.join(&name);
            let tmp = self.dir.join(format!("{name}.tmp"));
            let file = File::create(&tmp).map_err(|e| DataError::io(&tmp, &e))?;
            self.current = Some((TarWriter::new(BufWriter::new(file)), tmp, path));
            self.in_current = 0;
        }
        let Some((builder, tmp, _)) = self.current.as_mut() else {
            return Ok(()); // unreachable: opened above
        };
        for (ext, bytes) in members {
            builder
                .append(&format!("{key}.{ext}"), bytes)
                .map_err(|e| DataError::io(&*tmp, &e))?;
        }
        self.in_current += 1;
        self.samples += 1;
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), DataError> {
        if let Some((builder, tmp, path)) = self.current.take() {
            let writer = builder.finish().map_err(|e| DataError::io(&tmp, &e))?;
            writer
                .into_inner()
                .map_err(|e| DataError::io(&tmp, e.error()))?;
            std::fs::rename(&tmp, &path).map_err(|e| DataError::io(&path, &e))?;
            self.shards.push(path);
            self.sizes.push(self.in_current);
        }
        Ok(())
    }

    /// Closes the last shard; returns the number of samples and the shard paths.
    pub(crate) fn finish(mut self) -> Result<(usize, Vec<PathBuf>), DataError> {
        self.close_current()?;
        let sizes: serde_json::Map<String, serde_json::Value> = self
            .shards
            .iter()
            .zip(&self.sizes)
            .map(|(p, &n)| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (name, serde_json::Value::from(n))
            })
            .collect();
        let json = serde_json::Value::Object(sizes).to_string();
        super::write_atomic(&self.dir.join("sizes.json"), format!("{json}\n").as_bytes())?;
        Ok((self.samples, std::mem::take(&mut self.shards)))
    }
}

/// Removes shards (`*.tar`, `*.tar.tmp`, `sizes.json`) left in `dir` by an earlier run, so a rerun with
/// fewer samples leaves no stale shard behind.
pub(crate) fn clear_shards(dir: &Path) -> Result<(), DataError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_file()
            && (name.ends_with(".tar") || name.ends_with(".tar.tmp") || name == "sizes.json")
        {
            std::fs::remove_file(&path).map_err(|e| DataError::io(&path, &e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_roll_over_and_hold_the_members() {
        let dir = std::env::temp_dir().join(format!("clipscale-writer-{}", std::process::id()));
        let mut w = ShardWriter::new(&dir, "train", 2).unwrap();
        for i in 0..5 {
            let txt = format!("caption {i}");
            w.write(
                &format!("k{i}"),
                &[("txt", txt.as_bytes()), ("json", b"{}")],
            )
            .unwrap();
        }
        assert!(w.write("bad.key", &[]).is_err());
        let (n, shards) = w.finish().unwrap();
        assert_eq!(n, 5);
        assert_eq!(shards.len(), 3);
        assert!(shards[0].ends_with("train-000000.tar"));
        let names: Vec<(String, String)> = crate::tarfile::read_tar(&shards[2])
            .unwrap()
            .into_iter()
            .map(|(name, data)| (name, String::from_utf8(data).unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("k4.txt".to_owned(), "caption 4".to_owned()),
                ("k4.json".to_owned(), "{}".to_owned())
            ]
        );
        let sizes = std::fs::read_to_string(dir.join("sizes.json")).unwrap();
        assert_eq!(
            sizes.trim(),
            r#"{"train-000000.tar":2,"train-000001.tar":2,"train-000002.tar":1}"#
        );
        clear_shards(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
