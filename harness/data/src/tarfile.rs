//! A small tar reader and writer for webdataset shards, written here so that truncation and
//! corruption are detected exactly and reported with the byte offset.
//!
//! Reading ([`TarReader`]) understands what img2dataset, DataComp (Python's `tarfile`), GNU tar
//! and webdataset's writer produce: POSIX ustar headers (with the 155-byte name prefix), GNU
//! long names (`L` entries), pax extended headers (`x`: `path` and `size` records; global `g`
//! headers are skipped), octal and base-256 sizes, and header checksums (unsigned or signed
//! sums). Directories, links and other non-file entries are skipped. Member data is read only
//! when the caller asks for it (by name); other data is skipped with a seek, so scanning a
//! shard's names costs one 512-byte header per member.
//!
//! The reader stops with a [`TarError`] at the first problem: [`TarError::Truncated`] when the
//! file ends inside a header or inside a member's data, or without the end-of-archive marker
//! (two zero blocks; one is accepted), and [`TarError::BadHeader`] for a header whose checksum
//! or fields are wrong (a tar stream cannot be resynchronised after that). Members returned
//! before the error are intact.
//!
//! Writing ([`TarWriter`]) produces POSIX ustar members with pax `path` records for names over
//! 100 bytes, mode 0644 and zero owner and time (byte-identical output for identical input), and
//! the end-of-archive marker; it writes the prepared data sets' shards, the test fixtures and the
//! decoding benchmark's shards. [`unpack`] extracts an archive's regular files into a folder
//! (npm packages), refusing names that would land outside it.
//!
//! This is the project's only tar code. The `tar` crate was used beside it until the tar code
//! was made one: it accepts a shard cut exactly at a member boundary as complete (a silent loss
//! of samples), where this reader reports the missing end-of-archive marker.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path};

/// Tar block size.
const BLOCK: u64 = 512;
/// Largest GNU long name or pax header accepted (they are read into memory).
const MAX_META: u64 = 1 << 20;

/// Why a shard could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    /// The file ends early; `offset` is the header offset of the member (or block) cut short.
    Truncated { offset: u64, detail: String },
    /// A header that is not a valid tar header.
    BadHeader { offset: u64, detail: String },
    /// A read error from the file system.
    Io { offset: u64, detail: String },
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::Truncated { offset, detail } => {
                write!(f, "truncated at byte {offset}: {detail}")
            }
            TarError::BadHeader { offset, detail } => {
                write!(f, "bad tar header at byte {offset}: {detail}")
            }
            TarError::Io { offset, detail } => write!(f, "read error at byte {offset}: {detail}"),
        }
    }
}

/// One regular file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarMember {
    /// The member's path inside the archive.
    pub name: String,
    /// Byte offset of the member's (first) header.
    pub offset: u64,
    /// Data size in bytes.
    pub size: u64,
    /// The data, when the caller asked for it.
    pub data: Option<Vec<u8>>,
}

/// Sequential reader of the regular files of one tar archive (a file by default; any seekable
/// reader, such as a decompressed archive in memory).
pub struct TarReader<R: Read + Seek = File> {
    file: BufReader<R>,
    len: u64,
    pos: u64,
    finished: bool,
}

/// A parsed header block.
struct Header {
    name: String,
    size: u64,
    kind: u8,
}

impl TarReader<File> {
    /// Opens `path` for reading with a 1 MiB buffer.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_with_capacity(path, 1 << 20)
    }

    /// Opens `path` for reading with a `capacity`-byte buffer (small when mostly seeking).
    pub fn open_with_capacity(path: &Path, capacity: usize) -> io::Result<Self> {
        Self::with_capacity(File::open(path)?, capacity)
    }
}

impl<R: Read + Seek> TarReader<R> {
    /// Reads the archive that `inner` holds from its start, with a `capacity`-byte buffer.
    pub fn with_capacity(mut inner: R, capacity: usize) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(Self {
            file: BufReader::with_capacity(capacity, inner),
            len,
            pos: 0,
            finished: false,
        })
    }

    /// The next regular file, reading its data when `want_data(name)` is true; `Ok(None)` at
    /// the end-of-archive marker. After an error, every further call returns `Ok(None)`.
    pub fn next_member(
        &mut self,
        want_data: &dyn Fn(&str) -> bool,
    ) -> Result<Option<TarMember>, TarError> {
        let result = self.next_inner(want_data);
        if result.is_err() {
            self.finished = true;
        }
        result
    }

    fn next_inner(
        &mut self,
        want_data: &dyn Fn(&str) -> bool,
    ) -> Result<Option<TarMember>, TarError> {
        let mut long_name: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        loop {
            if self.finished {
                return Ok(None);
            }
            let offset = self.pos;
            if self.len - offset.min(self.len) < BLOCK {
                let detail = if offset >= self.len {
                    "the archive ends without the end-of-archive marker".to_string()
                } else {
                    format!("a header is cut after {} of 512 bytes", self.len - offset)
                };
                return Err(TarError::Truncated { offset, detail });
            }
            let mut block = [0u8; BLOCK as usize];
            self.read_exact(&mut block, offset)?;
            if block.iter().all(|&b| b == 0) {
                self.finished = true;
                return Ok(None);
            }
            let header =
                parse_header(&block).map_err(|detail| TarError::BadHeader { offset, detail })?;
            let is_file = matches!(header.kind, b'0' | 0 | b'7');
            let size = if is_file {
                pax_size.take().unwrap_or(header.size)
            } else {
                header.size
            };
            let data_start = offset + BLOCK;
            let available = self.len - data_start;
            if size > available {
                return Err(TarError::Truncated {
                    offset,
                    detail: format!(
                        "member {:?} needs {size} bytes but the file ends after {available}",
                        long_name.as_deref().unwrap_or(&header.name)
                    ),
                });
            }
            let padded = size.div_ceil(BLOCK) * BLOCK;
            match header.kind {
                b'L' | b'x' => {
                    if size > MAX_META {
                        return Err(TarError::BadHeader {
                            offset,
                            detail: format!("a {size}-byte long-name or pax header is too large"),
                        });
                    }
                    let data = self.read_data(size, padded, offset)?;
                    if header.kind == b'L' {
                        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                        long_name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                    } else {
                        let (path, psize) = parse_pax(&data)
                            .map_err(|detail| TarError::BadHeader { offset, detail })?;
                        if path.is_some() {
                            long_name = path;
                        }
                        pax_size = psize.or(pax_size);
                    }
                }
                _ if is_file => {
                    let name = long_name.take().unwrap_or(header.name);
                    let data = if want_data(&name) {
                        Some(self.read_data(size, padded, offset)?)
                    } else {
                        self.skip(padded, offset)?;
                        None
                    };
                    return Ok(Some(TarMember {
                        name,
                        offset,
                        size,
                        data,
                    }));
                }
                _ => {
                    // Directories, links, global pax headers and the like.
                    long_name = None;
                    pax_size = None;
                    self.skip(padded, offset)?;
                }
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8], offset: u64) -> Result<(), TarError> {
        self.file
            .read_exact(buf)
            .map_err(|e| self.io_error(e, offset))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn read_data(&mut self, size: u64, padded: u64, offset: u64) -> Result<Vec<u8>, TarError> {
        let mut data = vec![0u8; size as usize];
        self.read_exact(&mut data, offset)?;
        self.skip(padded - size, offset)?;
        Ok(data)
    }

    fn skip(&mut self, n: u64, offset: u64) -> Result<(), TarError> {
        // Padding after the last member may be missing; clamp to the file.
        let n = n.min(self.len - self.pos);
        self.file
            .seek_relative(n as i64)
            .map_err(|e| self.io_error(e, offset))?;
        self.pos += n;
        Ok(())
    }

    fn io_error(&self, e: io::Error, offset: u64) -> TarError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            TarError::Truncated {
                offset,
                detail: "the file shrank while being read".into(),
            }
        } else {
            TarError::Io {
                offset,
                detail: e.to_string(),
            }
        }
    }
}

/// Text of a NUL-terminated header field.
fn field_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A numeric header field: octal text or GNU base-256.
fn field_num(b: &[u8], what: &str) -> Result<u64, String> {
    if b[0] & 0x80 != 0 {
        if b[0] == 0xff {
            return Err(format!("{what} field is negative (base-256)"));
        }
        let mut v: u64 = u64::from(b[0] & 0x7f);
        for &c in &b[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(c)))
                .ok_or_else(|| format!("{what} field overflows"))?;
        }
        return Ok(v);
    }
    let text: &[u8] = {
        let start = b
            .iter()
            .position(|&c| c != b' ' && c != 0)
            .unwrap_or(b.len());
        let rest = &b[start..];
        let end = rest
            .iter()
            .position(|&c| c == b' ' || c == 0)
            .unwrap_or(rest.len());
        &rest[..end]
    };
    let mut v: u64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return Err(format!(
                "{what} field {:?} is not octal",
                String::from_utf8_lossy(b)
            ));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(|| format!("{what} field overflows"))?;
    }
    Ok(v)
}

fn parse_header(block: &[u8; BLOCK as usize]) -> Result<Header, String> {
    let stored = field_num(&block[148..156], "checksum")?;
    let unsigned: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    let signed: i64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored != unsigned && stored as i64 != signed {
        return Err(format!(
            "checksum {stored} does not match the header's sum {unsigned} (not a tar file, or corrupt)"
        ));
    }
    let mut name = field_str(&block[0..100]);
    if &block[257..263] == b"ustar\0" {
        let prefix = field_str(&block[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    let size = field_num(&block[124..136], "size")?;
    Ok(Header {
        name,
        size,
        kind: block[156],
    })
}

/// The `path` and `size` records of a pax extended header.
fn parse_pax(mut data: &[u8]) -> Result<(Option<String>, Option<u64>), String> {
    let (mut path, mut size) = (None, None);
    while !data.is_empty() && data[0] != 0 {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("pax record without a length")?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("pax record length is not a number")?;
        if len <= space + 1 || len > data.len() {
            return Err(format!("pax record length {len} is out of range"));
        }
        let record = &data[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" => path = Some(String::from_utf8_lossy(value).into_owned()),
                b"size" => {
                    size = Some(
                        std::str::from_utf8(value)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or("pax size record is not a number")?,
                    );
                }
                _ => {}
            }
        }
        data = &data[len..];
    }
    Ok((path, size))
}

/// Writes POSIX tar archives (see the module documentation).
pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Appends one regular file.
    pub fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        if name.is_empty() || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid tar member name {name:?}"),
            ));
        }
        if name.len() > 100 {
            let record = pax_record("path", name);
            let mut from = name.len().saturating_sub(80);
            while !name.is_char_boundary(from) {
                from += 1;
            }
            let short: String = format!("PaxHeaders/{}", &name[from..]);
            self.entry(b'x', &short, record.as_bytes())?;
            let mut cut = 100;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            return self.entry(b'0', &name[..cut], data);
        }
        self.entry(b'0', name, data)
    }

    fn entry(&mut self, kind: u8, name: &str, data: &[u8]) -> io::Result<()> {
        let mut h = [0u8; BLOCK as usize];
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name.as_bytes()[..n]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        if data.len() as u64 >= 1 << 33 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "member too large",
            ));
        }
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[148..156].copy_from_slice(b"        ");
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)?;
        let pad = (BLOCK - data.len() as u64 % BLOCK) % BLOCK;
        self.out.write_all(&vec![0u8; pad as usize])
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK as usize])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One pax record `"<len> key=value\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len = format!("{len}").len() + body.len();
    }
    format!("{len}{body}")
}

/// Extracts every regular file of `archive` under `dest`, creating folders as needed. Names
/// that are absolute or climb out of `dest` (`..`) are refused; links and other entries are
/// skipped. Returns the number of files written.
pub fn unpack<R: Read + Seek>(archive: &mut TarReader<R>, dest: &Path) -> io::Result<usize> {
    let mut written = 0;
    while let Some(member) = archive
        .next_member(&|_| true)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
    {
        let relative = Path::new(&member.name);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "member {:?} at byte {} would be written outside {}",
                    member.name,
                    member.offset,
                    dest.display()
                ),
            ));
        }
        let path = dest.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, member.data.unwrap_or_default())?;
        written += 1;
    }
    Ok(written)
}

/// Every regular file of the tar file at `path`, as (name, data), in archive order; a truncated
/// or corrupt archive is an error (`InvalidData`, naming the byte offset).
pub fn read_tar(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut reader = TarReader::open(path)?;
    let mut out = Vec::new();
    while let Some(m) = reader
        .next_member(&|_| true)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
    {
        out.push((m.name, m.data.unwrap_or_default()));
    }
    Ok(out)
}

/// Writes `members` (name, data) to a new tar file at `path`.
pub fn write_tar(path: &Path, members: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut w = TarWriter::new(io::BufWriter::new(File::create(path)?));
    for (name, data) in members {
        w.append(name, data)?;
    }
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file path, removed when the guard drops.
    struct Temp(std::path::PathBuf);

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn temp(name: &str) -> Temp {
        Temp(std::env::temp_dir().join(format!("clipscale-tarfile-{}-{name}", std::process::id())))
    }

    fn read_all(path: &Path) -> (Vec<TarMember>, Option<TarError>) {
        let mut r = TarReader::open(path).unwrap();
        let mut out = Vec::new();
        loop {
            match r.next_member(&|_| true) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn round_trip_with_long_names_and_empty_members() {
        let long = format!("{}/{}.txt", "d".repeat(90), "k".repeat(40));
        let members = vec![
            ("a.txt".to_string(), b"hello".to_vec()),
            ("empty.txt".to_string(), Vec::new()),
            (long.clone(), vec![7u8; 1000]),
        ];
        let guard = temp("round.tar");
        let path = &guard.0;
        write_tar(path, &members).unwrap();
        let (got, err) = read_all(path);
        assert_eq!(err, None);
        let got: Vec<(String, Vec<u8>)> =
            got.into_iter().map(|m| (m.name, m.data.unwrap())).collect();
        assert_eq!(got, members);
    }

    #[test]
    fn truncation_and_garbage_are_reported_with_offsets() {
        let guard = temp("cut.tar");
        let path = &guard.0;
        write_tar(
            path,
            &[
                ("a.txt".into(), vec![1u8; 600]),
                ("b.txt".into(), vec![2u8; 600]),
            ],
        )
        .unwrap();
        let bytes = std::fs::read(path).unwrap();
        // Cut inside b.txt's data (a: 512 + 1024, b's header at 1536).
        std::fs::write(path, &bytes[..1536 + 512 + 100]).unwrap();
        let (got, err) = read_all(path);
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&err, Some(TarError::Truncated { offset: 1536, detail }) if detail.contains("b.txt")),
            "{err:?}"
        );
        // Cut at a member boundary: no end marker.
        std::fs::write(path, &bytes[..1536]).unwrap();
        let (got, err) = read_all(path);
        assert_eq!(got.len(), 1);
        assert!(matches!(
            err,
            Some(TarError::Truncated { offset: 1536, .. })
        ));
        // Not a tar file at all.
        std::fs::write(path, vec![b'x'; 2048]).unwrap();
        let (got, err) = read_all(path);
        assert!(got.is_empty());
        assert!(
            matches!(err, Some(TarError::BadHeader { offset: 0, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn unpack_writes_files_and_refuses_to_climb_out() {
        let members = vec![
            ("package/package.json".to_string(), b"{}".to_vec()),
            ("package/data/en.json".to_string(), b"[1]".to_vec()),
        ];
        let guard = temp("pkg.tar");
        write_tar(&guard.0, &members).unwrap();
        let dest = std::env::temp_dir().join(format!("clipscale-unpack-{}", std::process::id()));
        let bytes = std::fs::read(&guard.0).unwrap();
        let mut reader = TarReader::with_capacity(io::Cursor::new(bytes), 4096).unwrap();
        assert_eq!(unpack(&mut reader, &dest).unwrap(), 2);
        assert_eq!(
            std::fs::read(dest.join("package/data/en.json")).unwrap(),
            b"[1]"
        );
        write_tar(&guard.0, &[("../evil.txt".to_string(), b"x".to_vec())]).unwrap();
        let err = unpack(&mut TarReader::open(&guard.0).unwrap(), &dest).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(!dest.parent().unwrap().join("evil.txt").exists());
        std::fs::remove_dir_all(&dest).ok();
    }

    #[test]
    fn long_names_with_multibyte_characters_round_trip() {
        let long = format!("{}/{}.txt", "é".repeat(60), "ß".repeat(30));
        let guard = temp("utf8.tar");
        write_tar(&guard.0, &[(long.clone(), b"x".to_vec())]).unwrap();
        assert_eq!(read_tar(&guard.0).unwrap(), [(long, b"x".to_vec())]);
    }

    #[test]
    fn pax_records_count_their_own_length() {
        let r = pax_record("path", "abc");
        assert_eq!(r, "12 path=abc\n");
        assert_eq!(r.len(), 12);
        assert_eq!(pax_record("p", "abcd"), "9 p=abcd\n");
        // A 9-byte body plus one digit would be 10: the length needs two digits, 11.
        assert_eq!(pax_record("p", "abcde"), "11 p=abcde\n");
        let r = pax_record("path", &"x".repeat(93));
        assert_eq!(
            r.len(),
            r.split(' ').next().unwrap().parse::<usize>().unwrap()
        );
    }
}
