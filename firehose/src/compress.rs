//! Firehose's compression formats for S3 objects.
//!
//! Firehose concatenates the records of an object with no delimiter of its own (a
//! record separator, if wanted, is the producer's), then compresses the whole object
//! with the destination's `CompressionFormat`:
//!
//! | `CompressionFormat` | format | default extension |
//! |---|---|---|
//! | `UNCOMPRESSED` | the bytes themselves | none |
//! | `GZIP` | one gzip member (RFC 1952) | `.gz` |
//! | `ZIP` | a zip archive of one deflated entry | `.zip` |
//! | `Snappy` | Snappy's framing format (`sz`) | `.snappy` |
//! | `HADOOP_SNAPPY` | Hadoop's `BlockCompressorStream` of raw Snappy blocks | `.hsnappy` |
//!
//! Compression is deterministic: the same records always give the same bytes (gzip's
//! modification time is 0; the zip entry's time is the zip epoch, 1980-01-01), so an
//! object rebuilt after a crash is the same object.

use std::io::{Cursor, Write};

use bytes::Bytes;

/// A destination's `CompressionFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `UNCOMPRESSED`.
    Uncompressed,
    /// `GZIP`.
    Gzip,
    /// `ZIP`.
    Zip,
    /// `Snappy`: the Snappy framing format.
    Snappy,
    /// `HADOOP_SNAPPY`: Hadoop-compatible Snappy.
    HadoopSnappy,
}

/// The name of the single entry of a `ZIP` object made by [`compress`].
pub const DEFAULT_ZIP_ENTRY_NAME: &str = "data";

/// How many bytes of input go in one block of `HADOOP_SNAPPY`: Hadoop's `SnappyCodec`
/// buffer (`io.compression.codec.snappy.buffersize`, 256 KiB by default) less its
/// compression overhead (`bufferSize / 6 + 32`), as Hadoop's own writer cuts.
pub const HADOOP_SNAPPY_BLOCK: usize = 256 * 1024 - (256 * 1024 / 6 + 32);

impl Compression {
    /// All the formats, in AWS's order.
    pub const ALL: [Compression; 5] = [
        Compression::Uncompressed,
        Compression::Gzip,
        Compression::Zip,
        Compression::Snappy,
        Compression::HadoopSnappy,
    ];

    /// The format of AWS's name (`UNCOMPRESSED`, `GZIP`, `ZIP`, `Snappy`,
    /// `HADOOP_SNAPPY`; case-sensitive, as the API's enum). `Err` holds the message of
    /// the validation error.
    pub fn parse(name: &str) -> Result<Compression, String> {
        Compression::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "Value '{name}' at 'compressionFormat' failed to satisfy constraint: Member must \
                     satisfy enum value set: [UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]"
                )
            })
    }

    /// AWS's name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Uncompressed => "UNCOMPRESSED",
            Compression::Gzip => "GZIP",
            Compression::Zip => "ZIP",
            Compression::Snappy => "Snappy",
            Compression::HadoopSnappy => "HADOOP_SNAPPY",
        }
    }

    /// The file extension Firehose appends to an object's key by default.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Uncompressed => "",
            Compression::Gzip => ".gz",
            Compression::Zip => ".zip",
            Compression::Snappy => ".snappy",
            Compression::HadoopSnappy => ".hsnappy",
        }
    }

    /// The `Content-Encoding` of an object in this format, if any: `gzip` for `GZIP`.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("gzip"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`try_compress`] with the default `ZIP` entry name, for tests: panics on an encoder
/// error (the service calls [`try_compress`] and retries instead).
#[cfg(test)]
pub(crate) fn compress(c: Compression, records: &[Bytes]) -> Vec<u8> {
    compress_with_zip_entry(c, records, DEFAULT_ZIP_ENTRY_NAME)
}

/// [`compress`], with the name of a `ZIP` object's entry.
#[cfg(test)]
pub(crate) fn compress_with_zip_entry(
    c: Compression,
    records: &[Bytes],
    zip_entry: &str,
) -> Vec<u8> {
    match try_compress(c, records, zip_entry) {
        Ok(v) => v,
        // In-memory writers do not fail; see the doc comment.
        Err(e) => panic!("{c} compression in memory failed: {e}"),
    }
}

/// Largest chunk of an uncompressed object body built by [`try_compress_chunks`].
const CHUNK_BYTES: usize = 1024 * 1024;

/// [`try_compress`] as the chunks of an object body. Uncompressed, records are
/// gathered into chunks of at most 1 MiB (a record of 64 KiB or more is a chunk of its
/// own, not copied): allocations of that size are reused by the allocator, where a
/// whole object in one buffer (up to 128 MiB) was fresh memory each time, zeroed by the
/// kernel page by page (16% of a 100-byte-record drain's CPU), and the object store
/// still writes a chunk per system call.
pub fn try_compress_chunks(
    c: Compression,
    records: &[Bytes],
    zip_entry: &str,
) -> std::io::Result<Vec<Bytes>> {
    if c != Compression::Uncompressed {
        return try_compress(c, records, zip_entry).map(|body| vec![Bytes::from(body)]);
    }
    let mut chunks = Vec::new();
    let mut chunk: Vec<u8> = Vec::new();
    for r in records {
        if r.len() >= CHUNK_BYTES / 16 {
            if !chunk.is_empty() {
                chunks.push(Bytes::from(std::mem::take(&mut chunk)));
            }
            chunks.push(r.clone());
            continue;
        }
        if chunk.len() + r.len() > CHUNK_BYTES {
            chunks.push(Bytes::from(std::mem::take(&mut chunk)));
        }
        if chunk.capacity() == 0 {
            chunk.reserve_exact(CHUNK_BYTES);
        }
        chunk.extend_from_slice(r);
    }
    if !chunk.is_empty() {
        chunks.push(Bytes::from(chunk));
    }
    Ok(chunks)
}

/// The object of `records` in the format `c`, a `ZIP` object's entry being named
/// `zip_entry`, or the encoder's error.
pub fn try_compress(
    c: Compression,
    records: &[Bytes],
    zip_entry: &str,
) -> std::io::Result<Vec<u8>> {
    let total: usize = records.iter().map(Bytes::len).sum();
    match c {
        Compression::Uncompressed => {
            let mut out = Vec::with_capacity(total);
            for r in records {
                out.extend_from_slice(r);
            }
            Ok(out)
        }
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(total / 2 + 64),
                flate2::Compression::default(),
            );
            for r in records {
                enc.write_all(r)?;
            }
            enc.finish()
        }
        Compression::Zip => {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(total / 2 + 256)));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .last_modified_time(zip::DateTime::default())
                .unix_permissions(0o644)
                .large_file(total as u64 >= u64::from(u32::MAX));
            w.start_file(zip_entry, options)
                .map_err(std::io::Error::other)?;
            for r in records {
                w.write_all(r)?;
            }
            let cursor = w.finish().map_err(std::io::Error::other)?;
            Ok(cursor.into_inner())
        }
        Compression::Snappy => {
            let mut enc = snap::write::FrameEncoder::new(Vec::with_capacity(total / 2 + 64));
            for r in records {
                enc.write_all(r)?;
            }
            enc.flush()?;
            enc.into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
        Compression::HadoopSnappy => hadoop_snappy(records, total),
    }
}

/// Hadoop's block format: for each block of at most [`HADOOP_SNAPPY_BLOCK`] input
/// bytes, its length (4 bytes, big-endian), then the length of its raw Snappy
/// compression (4 bytes, big-endian) and that compression.
fn hadoop_snappy(records: &[Bytes], total: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(total / 2 + 64);
    let mut enc = snap::raw::Encoder::new();
    let mut block = Vec::with_capacity(HADOOP_SNAPPY_BLOCK.min(total));
    let mut emit = |block: &[u8], out: &mut Vec<u8>| -> std::io::Result<()> {
        let compressed = enc
            .compress_vec(block)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let raw_len = u32::try_from(block.len()).map_err(std::io::Error::other)?;
        let comp_len = u32::try_from(compressed.len()).map_err(std::io::Error::other)?;
        out.extend_from_slice(&raw_len.to_be_bytes());
        out.extend_from_slice(&comp_len.to_be_bytes());
        out.extend_from_slice(&compressed);
        Ok(())
    };
    for r in records {
        let mut rest: &[u8] = r;
        while !rest.is_empty() {
            let take = (HADOOP_SNAPPY_BLOCK - block.len()).min(rest.len());
            block.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if block.len() == HADOOP_SNAPPY_BLOCK {
                emit(&block, &mut out)?;
                block.clear();
            }
        }
    }
    if !block.is_empty() {
        emit(&block, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::Command;

    #[test]
    fn uncompressed_chunks_concatenate_to_the_object() {
        let small = Bytes::from(vec![b's'; 100]);
        let big = Bytes::from(vec![b'b'; CHUNK_BYTES / 16]);
        let mut records = vec![small.clone(); 25_000]; // 2.4 MiB: three chunks
        records.push(big.clone());
        records.push(small.clone());
        let chunks = try_compress_chunks(Compression::Uncompressed, &records, "").unwrap();
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, compress(Compression::Uncompressed, &records));
        assert!(
            chunks.iter().all(|c| c.len() <= CHUNK_BYTES),
            "{:?}",
            chunks.iter().map(Bytes::len).collect::<Vec<_>>()
        );
        assert_eq!(
            chunks.len(),
            5,
            "three of small records, the big one, the last small one"
        );
        // The big record is its own chunk, not a copy.
        assert_eq!(chunks[3].as_ptr(), big.as_ptr());
        // Compressed formats are one chunk, as before.
        let gz = try_compress_chunks(Compression::Gzip, &records, "").unwrap();
        assert_eq!(gz.len(), 1);
        assert!(try_compress_chunks(Compression::Uncompressed, &[], "")
            .unwrap()
            .is_empty());
    }

    fn records() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"{\"a\":1}\n"),
            Bytes::from_static(b""),
            Bytes::from_static(b"second record, no newline"),
            Bytes::from(vec![0u8, 1, 2, 255, 254]),
        ]
    }

    fn concat(rs: &[Bytes]) -> Vec<u8> {
        rs.iter().flat_map(|r| r.iter().copied()).collect()
    }

    /// Records big enough for several Hadoop blocks, compressible and not.
    fn big_records() -> Vec<Bytes> {
        let mut rs = Vec::new();
        let mut x: u32 = 12345;
        for i in 0..40 {
            let mut v = Vec::new();
            for j in 0..(17_000 + i * 311) {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push(if i % 2 == 0 {
                    (j % 7) as u8 + b'a'
                } else {
                    (x >> 16) as u8
                });
            }
            rs.push(Bytes::from(v));
        }
        rs
    }

    /// Hadoop's `BlockDecompressorStream` for Snappy, for the tests.
    fn hadoop_unsnappy(mut data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut dec = snap::raw::Decoder::new();
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        while !data.is_empty() {
            let raw_len = be(&data[..4]);
            data = &data[4..];
            let mut got = 0;
            while got < raw_len {
                let comp_len = be(&data[..4]);
                let chunk = dec.decompress_vec(&data[4..4 + comp_len]).unwrap();
                got += chunk.len();
                out.extend_from_slice(&chunk);
                data = &data[4 + comp_len..];
            }
            assert_eq!(got, raw_len);
            assert!(raw_len <= HADOOP_SNAPPY_BLOCK);
        }
        out
    }

    fn decode(c: Compression, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match c {
            Compression::Uncompressed => out.extend_from_slice(data),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Zip => {
                let mut archive = zip::ZipArchive::new(Cursor::new(data)).unwrap();
                assert_eq!(archive.len(), 1);
                let mut f = archive.by_index(0).unwrap();
                assert_eq!(f.compression(), zip::CompressionMethod::Deflated);
                f.read_to_end(&mut out).unwrap();
            }
            Compression::Snappy => {
                snap::read::FrameDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::HadoopSnappy => out = hadoop_unsnappy(data),
        }
        out
    }

    #[test]
    fn names_and_extensions() {
        for c in Compression::ALL {
            assert_eq!(Compression::parse(c.as_str()), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(Compression::parse("Snappy"), Ok(Compression::Snappy));
        assert!(
            Compression::parse("SNAPPY").is_err(),
            "the API's enum is case-sensitive"
        );
        assert!(Compression::parse("gzip").is_err());
        assert!(Compression::parse("")
            .unwrap_err()
            .contains("[UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]"));
        let exts: Vec<&str> = Compression::ALL.iter().map(|c| c.extension()).collect();
        assert_eq!(exts, vec!["", ".gz", ".zip", ".snappy", ".hsnappy"]);
        assert_eq!(Compression::Gzip.content_encoding(), Some("gzip"));
        assert_eq!(Compression::Zip.content_encoding(), None);
    }

    #[test]
    fn round_trips() {
        for rs in [records(), big_records(), vec![Bytes::from_static(b"x")]] {
            let plain = concat(&rs);
            for c in Compression::ALL {
                let z = compress(c, &rs);
                assert_eq!(decode(c, &z), plain, "{c}");
                assert_eq!(compress(c, &rs), z, "{c} is deterministic");
            }
        }
    }

    #[test]
    fn uncompressed_is_concatenation_without_delimiter() {
        assert_eq!(
            compress(Compression::Uncompressed, &records()),
            concat(&records())
        );
    }

    #[test]
    fn empty_objects() {
        for c in Compression::ALL {
            let z = compress(c, &[]);
            assert_eq!(decode(c, &z), Vec::<u8>::new(), "{c}");
        }
        assert!(compress(Compression::HadoopSnappy, &[]).is_empty());
    }

    #[test]
    fn snappy_is_the_framing_format() {
        let z = compress(Compression::Snappy, &records());
        // The stream identifier chunk: type 0xff, length 6, "sNaPpY".
        assert_eq!(&z[..10], b"\xff\x06\x00\x00sNaPpY");
    }

    #[test]
    fn hadoop_snappy_blocks() {
        let rs = big_records();
        let plain = concat(&rs);
        let z = compress(Compression::HadoopSnappy, &rs);
        // The first block holds a full HADOOP_SNAPPY_BLOCK of input.
        assert_eq!(
            u32::from_be_bytes([z[0], z[1], z[2], z[3]]) as usize,
            HADOOP_SNAPPY_BLOCK
        );
        assert!(plain.len() > 2 * HADOOP_SNAPPY_BLOCK);
        assert_eq!(hadoop_unsnappy(&z), plain);
        // Small input: one block whose length is the input's.
        let small = compress(
            Compression::HadoopSnappy,
            &[Bytes::from_static(b"hello hello hello")],
        );
        assert_eq!(&small[..4], &17u32.to_be_bytes());
        let comp_len = u32::from_be_bytes([small[4], small[5], small[6], small[7]]) as usize;
        assert_eq!(small.len(), 8 + comp_len);
    }

    #[test]
    fn zip_entry_name() {
        let z = compress(Compression::Zip, &records());
        let mut archive = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        assert_eq!(archive.by_index(0).unwrap().name(), DEFAULT_ZIP_ENTRY_NAME);
        let z = compress_with_zip_entry(Compression::Zip, &records(), "s-1-2018-08-27-10-30-05-r");
        let mut archive = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        assert_eq!(
            archive.by_index(0).unwrap().name(),
            "s-1-2018-08-27-10-30-05-r"
        );
    }

    fn have(tool: &str) -> bool {
        Command::new(tool).arg("--version").output().is_ok()
    }

    #[test]
    fn gzip_is_readable_by_gzip_and_python() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.gz");
        std::fs::write(&path, compress(Compression::Gzip, &big_records())).unwrap();
        if have("gzip") {
            let st = Command::new("gzip").arg("-t").arg(&path).status().unwrap();
            assert!(st.success());
            let out = Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
            assert_eq!(out.stdout, concat(&big_records()));
        }
        if have("python3") {
            let out = Command::new("python3")
                .arg("-c")
                .arg("import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, concat(&big_records()));
        }
    }

    #[test]
    fn zip_is_readable_by_unzip_and_python() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.zip");
        std::fs::write(&path, compress(Compression::Zip, &records())).unwrap();
        if have("python3") {
            let out = Command::new("python3")
                .arg("-c")
                .arg(
                    "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                     assert z.namelist()==['data'], z.namelist()\nsys.stdout.buffer.write(z.read('data'))",
                )
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, concat(&records()));
        }
        if Command::new("unzip").arg("-v").output().is_ok() {
            let st = Command::new("unzip")
                .arg("-tq")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "{}",
                String::from_utf8_lossy(&st.stdout)
            );
            let out = Command::new("unzip").arg("-p").arg(&path).output().unwrap();
            assert_eq!(out.stdout, concat(&records()));
        }
    }
}
