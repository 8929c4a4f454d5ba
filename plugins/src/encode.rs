//! Writing captures: PNG images, and GIF or MP4 (H.264) videos encoded on
//! a thread of their own frame by frame, so that a long recording neither
//! blocks the UI nor holds every frame in memory.
//!
//! MP4 files carry one H.264 track (OpenH264, built from source) in an
//! ISO-BMFF container with the parameter sets in `avcC`, the layout every
//! standard player reads. Every file is written under a temporary name and
//! renamed when complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};
use dexsim::render::Image;
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod};
use openh264::formats::{RgbSliceU8, YUVBuffer};

use crate::error::PluginError;

/// Container of a video, chosen by the file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoFormat {
    /// Animated GIF (256 colours a frame).
    Gif,
    /// H.264 in MP4.
    Mp4,
}

impl VideoFormat {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Result<Self, PluginError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("gif") => Ok(Self::Gif),
            Some("mp4") => Ok(Self::Mp4),
            _ => Err(PluginError::VideoFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Gif => "gif",
            Self::Mp4 => "mp4",
        }
    }
}

/// Write `path` through a temporary file renamed into place, creating the
/// folder; a failure leaves no partial file behind.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), String>,
) -> Result<(), String> {
    let tmp = part_path(path);
    let result = (|| {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file =
            File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        w.flush()
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// Save an RGB image as PNG.
pub fn write_png(path: &Path, img: &Image) -> Result<(), String> {
    check(img)?;
    write_atomic(path, |w| {
        let mut enc = png::Encoder::new(w, img.width as u32, img.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let err = |e: png::EncodingError| format!("cannot encode {}: {e}", path.display());
        enc.write_header()
            .map_err(err)?
            .write_image_data(&img.rgb)
            .map_err(err)
    })
}

fn check(img: &Image) -> Result<(), String> {
    if img.width == 0 || img.height == 0 || img.rgb.len() != img.width * img.height * 3 {
        return Err(format!(
            "not an RGB image: {} bytes for {}x{}",
            img.rgb.len(),
            img.width,
            img.height
        ));
    }
    Ok(())
}

/// `img` cut or padded (black) to `width` x `height`, from the top left:
/// a video keeps the size of its first frame when the window is resized.
pub fn fit(img: &Image, width: usize, height: usize) -> Image {
    if img.width == width && img.height == height {
        return img.clone();
    }
    let mut rgb = vec![0; width * height * 3];
    let (w, h) = (width.min(img.width), height.min(img.height));
    for y in 0..h {
        let src = &img.rgb[y * img.width * 3..][..w * 3];
        rgb[y * width * 3..][..w * 3].copy_from_slice(src);
    }
    Image { width, height, rgb }
}

/// Nearest-neighbour enlargement by `k`, so a 64x64 observation stays
/// legible in a video.
pub fn upscale(img: &Image, k: usize) -> Image {
    // A malformed image is passed on as is, for the writer to refuse.
    img.upscaled(k)
}

/// One video file being encoded.
trait Sink {
    fn push(&mut self, img: &Image) -> Result<(), String>;
    fn finish(self: Box<Self>) -> Result<(), String>;
}

struct GifSink {
    enc: gif::Encoder<BufWriter<File>>,
    delay: u16,
}

/// NeuQuant speed: 1 is best and slowest, 30 fastest; 10 is gif's default.
const GIF_SPEED: i32 = 10;

impl GifSink {
    fn new(path: &Path, width: usize, height: usize, fps: u32) -> Result<Self, String> {
        let (w, h) = (dim16(width)?, dim16(height)?);
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let err = |e: gif::EncodingError| format!("gif: {e}");
        let mut enc = gif::Encoder::new(BufWriter::new(file), w, h, &[]).map_err(err)?;
        enc.set_repeat(gif::Repeat::Infinite).map_err(err)?;
        // GIF delays are in centiseconds.
        let delay = (100 / fps.max(1)).max(2) as u16;
        Ok(Self { enc, delay })
    }
}

fn dim16(x: usize) -> Result<u16, String> {
    u16::try_from(x).map_err(|_| format!("a video side of {x} pixels is too large"))
}

impl Sink for GifSink {
    fn push(&mut self, img: &Image) -> Result<(), String> {
        let (w, h) = (dim16(img.width)?, dim16(img.height)?);
        let mut frame = gif::Frame::from_rgb_speed(w, h, &img.rgb, GIF_SPEED);
        frame.delay = self.delay;
        self.enc
            .write_frame(&frame)
            .map_err(|e| format!("gif: {e}"))
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        let mut w = self.enc.into_inner().map_err(|e| format!("gif: {e}"))?;
        w.flush().map_err(|e| format!("gif: {e}"))
    }
}

struct Mp4Sink {
    path: PathBuf,
    enc: Encoder,
    size: (u16, u16),
    fps: u32,
    /// Track ticks per frame.
    ticks: u32,
    mp4: Option<mp4::Mp4Writer<BufWriter<File>>>,
    /// The last encoded frame, written when its duration is known (an
    /// encoder-skipped frame lengthens it).
    held: Option<(Vec<u8>, bool, u32)>,
    written: u64,
}

/// Track ticks per frame: a timescale of `fps * TICKS` keeps durations exact.
const TICKS: u32 = 100;

impl Mp4Sink {
    fn new(path: &Path, width: usize, height: usize, fps: u32) -> Result<Self, String> {
        let px = (width * height) as f64;
        // About 0.12 bits per pixel: sharp edges on a flat background.
        let bps = (px * f64::from(fps) * 0.12).clamp(300_000.0, 20_000_000.0) as u32;
        let cfg = EncoderConfig::new()
            .skip_frames(false)
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .bitrate(BitRate::from_bps(bps))
            .intra_frame_period(IntraFramePeriod::from_num_frames(2 * fps));
        let enc = Encoder::with_api_config(OpenH264API::from_source(), cfg)
            .map_err(|e| format!("cannot start the H.264 encoder: {e}"))?;
        Ok(Self {
            path: path.to_path_buf(),
            enc,
            size: (dim16(width)?, dim16(height)?),
            fps,
            ticks: TICKS,
            mp4: None,
            held: None,
            written: 0,
        })
    }

    fn start(&mut self, sps: &[u8], pps: &[u8]) -> Result<(), String> {
        let err = |e: mp4::Error| format!("mp4: {e}");
        let file = File::create(&self.path)
            .map_err(|e| format!("cannot create {}: {e}", self.path.display()))?;
        let brand = |s: &[u8; 4]| mp4::FourCC::from(*s);
        let cfg = mp4::Mp4Config {
            major_brand: brand(b"isom"),
            minor_version: 512,
            compatible_brands: vec![
                brand(b"isom"),
                brand(b"iso2"),
                brand(b"avc1"),
                brand(b"mp41"),
            ],
            timescale: 1000,
        };
        let mut w = mp4::Mp4Writer::write_start(BufWriter::new(file), &cfg).map_err(err)?;
        w.add_track(&mp4::TrackConfig {
            track_type: mp4::TrackType::Video,
            timescale: self.fps * self.ticks,
            language: "und".into(),
            media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
                width: self.size.0,
                height: self.size.1,
                seq_param_set: sps.to_vec(),
                pic_param_set: pps.to_vec(),
            }),
        })
        .map_err(err)?;
        self.mp4 = Some(w);
        Ok(())
    }

    fn write_held(&mut self) -> Result<(), String> {
        let (Some((bytes, sync, duration)), Some(w)) = (self.held.take(), self.mp4.as_mut()) else {
            return Ok(());
        };
        let sample = mp4::Mp4Sample {
            start_time: self.written,
            duration,
            rendering_offset: 0,
            is_sync: sync,
            bytes: mp4::Bytes::from(bytes),
        };
        w.write_sample(1, &sample)
            .map_err(|e| format!("mp4: {e}"))?;
        self.written += u64::from(duration);
        Ok(())
    }
}

/// The payload of an Annex B NAL unit (its start code removed).
fn nal_payload(nal: &[u8]) -> &[u8] {
    let zeros = nal.iter().take_while(|&&b| b == 0).count();
    if zeros >= 2 && nal.get(zeros) == Some(&1) {
        &nal[zeros + 1..]
    } else {
        nal
    }
}

impl Sink for Mp4Sink {
    fn push(&mut self, img: &Image) -> Result<(), String> {
        let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(&img.rgb, (img.width, img.height)));
        let bits = self
            .enc
            .encode(&yuv)
            .map_err(|e| format!("H.264 encoding failed: {e}"))?;
        let sync = matches!(bits.frame_type(), FrameType::IDR | FrameType::I);
        let (mut sps, mut pps, mut sample) = (None, None, Vec::new());
        for l in 0..bits.num_layers() {
            let Some(layer) = bits.layer(l) else { continue };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n).map(nal_payload) else {
                    continue;
                };
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) => sps = Some(nal.to_vec()),
                    Some(8) => pps = Some(nal.to_vec()),
                    Some(_) => {
                        // MP4 samples hold length-prefixed NAL units.
                        let len = u32::try_from(nal.len()).map_err(|_| "NAL unit too large")?;
                        sample.extend_from_slice(&len.to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                    None => {}
                }
            }
        }
        if self.mp4.is_none() {
            let (Some(sps), Some(pps)) = (sps, pps) else {
                return Err("the H.264 encoder gave no parameter sets".into());
            };
            self.start(&sps, &pps)?;
        }
        if sample.is_empty() {
            // A skipped frame: the previous one stays on screen longer.
            if let Some(h) = self.held.as_mut() {
                h.2 += self.ticks;
            }
            return Ok(());
        }
        self.write_held()?;
        self.held = Some((sample, sync, self.ticks));
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), String> {
        self.write_held()?;
        let Some(mut w) = self.mp4.take() else {
            return Err("no frames were encoded".into());
        };
        w.write_end().map_err(|e| format!("mp4: {e}"))?;
        w.into_writer()
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// A video being encoded on its own thread. Dropping it waits for the
/// file to be complete, so closing the studio loses no video.
pub struct VideoWriter {
    path: PathBuf,
    frames: Option<Sender<Image>>,
    done: Receiver<Result<PathBuf, String>>,
    thread: Option<JoinHandle<()>>,
    /// Frames handed to the encoder.
    pub sent: usize,
    /// Finish by itself once this many frames are sent (a video of a fixed
    /// length; later frames are dropped).
    pub limit: Option<usize>,
}

impl VideoWriter {
    /// Start a video at `path` (`.mp4` or `.gif`) shown at `fps` frames
    /// per second. Its size is the first frame's (cut to even sides for
    /// H.264); later frames are fitted to it.
    pub fn start(path: PathBuf, fps: u32) -> Result<Self, String> {
        let format = VideoFormat::of(&path).map_err(|e| e.to_string())?;
        let fps = fps.clamp(1, 120);
        let (tx, rx) = unbounded();
        let (done_tx, done) = unbounded();
        let p = path.clone();
        let thread = std::thread::Builder::new()
            .name("dexstudio-video".into())
            .spawn(move || {
                let r = encode_loop(&p, format, fps, &rx);
                let _ = done_tx.send(r.map(|()| p));
            })
            .map_err(|e| format!("cannot start the video thread: {e}"))?;
        Ok(Self {
            path,
            frames: Some(tx),
            done,
            thread: Some(thread),
            sent: 0,
            limit: None,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hand a frame to the encoder (never blocks).
    pub fn push(&mut self, img: Image) {
        if self.frames.as_ref().is_some_and(|tx| tx.send(img).is_ok()) {
            self.sent += 1;
        }
        if self.limit.is_some_and(|n| self.sent >= n) {
            self.finish();
        }
    }

    /// No more frames: the thread completes the file; [`Self::poll`] says
    /// when.
    pub fn finish(&mut self) {
        self.frames = None;
    }

    /// The outcome, once the file is complete or has failed.
    pub fn poll(&self) -> Option<Result<PathBuf, String>> {
        self.done.try_recv().ok()
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        self.frames = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn encode_loop(
    path: &Path,
    format: VideoFormat,
    fps: u32,
    frames: &Receiver<Image>,
) -> Result<(), String> {
    let tmp = part_path(path);
    let result = (|| {
        let mut sink: Option<(Box<dyn Sink>, usize, usize)> = None;
        for img in frames {
            check(&img)?;
            if sink.is_none() {
                let (w, h) = match format {
                    VideoFormat::Mp4 => (img.width & !1, img.height & !1),
                    VideoFormat::Gif => (img.width, img.height),
                };
                if w == 0 || h == 0 {
                    return Err(format!("a {}x{} frame is too small", img.width, img.height));
                }
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                let s: Box<dyn Sink> = match format {
                    VideoFormat::Gif => Box::new(GifSink::new(&tmp, w, h, fps)?),
                    VideoFormat::Mp4 => Box::new(Mp4Sink::new(&tmp, w, h, fps)?),
                };
                sink = Some((s, w, h));
            }
            if let Some((s, w, h)) = sink.as_mut() {
                s.push(&fit(&img, *w, *h))?;
            }
        }
        let Some((s, _, _)) = sink else {
            return Err("no frames were captured".into());
        };
        s.finish()?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use dexsim::render::Image;
    use openh264::decoder::Decoder;
    use openh264::formats::YUVSource;

    use super::{VideoFormat, VideoWriter, fit, upscale, write_png};

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("dexstudio-encode-{}-{name}", std::process::id()))
    }

    /// A frame with a bright square that moves right by 4 px a frame.
    fn frame(i: usize, w: usize, h: usize) -> Image {
        let mut rgb = vec![40; w * h * 3];
        for y in 8..24 {
            for x in (4 * i)..(4 * i + 16) {
                if x < w && y < h {
                    rgb[(y * w + x) * 3..][..3].copy_from_slice(&[250, 220, 30]);
                }
            }
        }
        Image {
            width: w,
            height: h,
            rgb,
        }
    }

    fn finish(mut v: VideoWriter) -> std::path::PathBuf {
        v.finish();
        let start = std::time::Instant::now();
        loop {
            if let Some(r) = v.poll() {
                return r.expect("the video is written");
            }
            assert!(start.elapsed().as_secs() < 60, "encoding hangs");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn mp4_holds_every_frame_and_decodes_back() {
        let path = temp("clip.mp4");
        let mut v = VideoWriter::start(path.clone(), 25).expect("start");
        for i in 0..12 {
            // Odd sides: the encoder needs even ones, the file is cut.
            v.push(frame(i, 65, 49));
        }
        let out = finish(v);
        let bytes = std::fs::read(&out).expect("file");
        let size = bytes.len() as u64;
        let mut mp4 = mp4::Mp4Reader::read_header(Cursor::new(bytes), size).expect("mp4");
        let track = mp4.tracks().get(&1).expect("one track");
        assert_eq!((track.width(), track.height()), (64, 48));
        assert_eq!(track.sample_count(), 12);
        assert!(
            (track.frame_rate() - 25.0).abs() < 1e-6,
            "{}",
            track.frame_rate()
        );
        let (sps, pps) = (
            track.sequence_parameter_set().expect("sps").to_vec(),
            track.picture_parameter_set().expect("pps").to_vec(),
        );
        // Back to Annex B and through a decoder: the square is where it was.
        let mut dec = Decoder::new().expect("decoder");
        let mut stream = Vec::new();
        for p in [&sps, &pps] {
            stream.extend_from_slice(&[0, 0, 0, 1]);
            stream.extend_from_slice(p);
        }
        let mut decoded = 0;
        for id in 1..=12 {
            let s = mp4.read_sample(1, id).expect("read").expect("sample");
            assert_eq!(s.is_sync, id == 1, "only the first frame is a key frame");
            let mut rest = &s.bytes[..];
            while rest.len() >= 4 {
                let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                stream.extend_from_slice(&[0, 0, 0, 1]);
                stream.extend_from_slice(&rest[4..4 + n]);
                rest = &rest[4 + n..];
            }
            if let Some(yuv) = dec.decode(&stream).expect("decodes") {
                assert_eq!(yuv.dimensions(), (64, 48));
                let mut rgb = vec![0; 64 * 48 * 3];
                yuv.write_rgb8(&mut rgb);
                let px = |x: usize, y: usize| rgb[(y * 64 + x) * 3];
                let i = id as usize - 1;
                assert!(px(4 * i + 8, 16) > 180, "frame {i}: square missing");
                assert!(px(4 * i + 8, 40) < 90, "frame {i}: background");
                decoded += 1;
            }
            stream.clear();
        }
        assert!(decoded >= 11, "decoded {decoded} frames");
        let _ = std::fs::remove_file(&out);
    }

    #[test]
    fn a_frame_limit_gives_a_video_of_that_length() {
        let path = temp("limited.mp4");
        let mut v = VideoWriter::start(path.clone(), 25).expect("start");
        v.limit = Some(50);
        for i in 0..60 {
            v.push(frame(i % 8, 32, 32));
        }
        assert_eq!(v.sent, 50, "frames past the limit are dropped");
        let out = finish(v);
        let bytes = std::fs::read(&out).expect("file");
        let size = bytes.len() as u64;
        let mp4 = mp4::Mp4Reader::read_header(Cursor::new(bytes), size).expect("mp4");
        assert_eq!(mp4.tracks().get(&1).expect("track").sample_count(), 50);
        assert_eq!(
            mp4.duration(),
            std::time::Duration::from_secs(2),
            "50 / 25 fps"
        );
        let _ = std::fs::remove_file(&out);
    }

    #[test]
    fn gif_holds_every_frame_at_the_frame_time() {
        let path = temp("clip.gif");
        let mut v = VideoWriter::start(path.clone(), 25).expect("start");
        for i in 0..5 {
            v.push(frame(i, 40, 30));
        }
        // A frame of another size is fitted to the first.
        v.push(frame(0, 50, 20));
        let out = finish(v);
        let file = std::fs::File::open(&out).expect("file");
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::RGBA);
        let mut dec = opts.read_info(file).expect("gif");
        assert_eq!((dec.width(), dec.height()), (40, 30));
        let mut n = 0;
        while let Some(f) = dec.read_next_frame().expect("frame") {
            assert_eq!(f.delay, 4, "1/25 s in centiseconds");
            n += 1;
        }
        assert_eq!(n, 6);
        let _ = std::fs::remove_file(&out);
    }

    #[test]
    fn bad_paths_and_images_are_errors() {
        assert!(VideoFormat::of(std::path::Path::new("a.avi")).is_err());
        assert_eq!(
            VideoFormat::of(std::path::Path::new("A.MP4")).ok(),
            Some(VideoFormat::Mp4)
        );
        let bad = Image {
            width: 4,
            height: 4,
            rgb: vec![0; 5],
        };
        assert!(write_png(&temp("bad.png"), &bad).is_err());
        assert!(!temp("bad.png").exists() && !temp("bad.png.part").exists());
        let mut v = VideoWriter::start(temp("empty.mp4"), 25).expect("start");
        v.finish();
        drop(v);
        assert!(!temp("empty.mp4").exists(), "no frames, no file");
    }

    #[test]
    fn png_round_trips_and_images_fit_and_scale() {
        let img = frame(1, 20, 10);
        let path = temp("shot.png");
        write_png(&path, &img).expect("png");
        let dec = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&path).expect("file"),
        ));
        let mut r = dec.read_info().expect("info");
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).expect("pixels");
        assert_eq!((info.width, info.height), (20, 10));
        assert_eq!(&buf[..info.buffer_size()], &img.rgb[..]);
        let _ = std::fs::remove_file(&path);

        let f = fit(&img, 8, 12);
        assert_eq!(f.rgb.len(), 8 * 12 * 3);
        assert_eq!(&f.rgb[..8 * 3], &img.rgb[..8 * 3]);
        assert!(f.rgb[11 * 8 * 3..].iter().all(|&b| b == 0), "padded black");
        let blank = Image {
            width: 64,
            height: 64,
            rgb: Vec::new(),
        };
        assert!(upscale(&blank, 4).rgb.is_empty(), "no pixels, no panic");
        let big = upscale(&img, 3);
        assert_eq!((big.width, big.height), (60, 30));
        assert_eq!(&big.rgb[..3], &img.rgb[..3]);
    }
}
