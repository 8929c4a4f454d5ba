//! Writing camera frames: an animated GIF, or one PNG.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;
use dexsim::render::Image;

/// Write frames as an animated GIF (`fps` frames per second) or, for a
/// `.png` path, the last frame as a PNG. Written to a temporary file and
/// renamed, so a crash never leaves a half-written file behind.
pub fn write(path: &Path, frames: &[Image], fps: u32, scale: usize) -> anyhow::Result<()> {
    let Some(last) = frames.last() else {
        anyhow::bail!("no frames to write to {}", path.display());
    };
    let tmp = path.with_extension("part");
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    {
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let w = BufWriter::new(file);
        if is_png {
            write_png(w, &upscale(last, scale))?;
        } else {
            write_gif(w, frames, fps, scale)?;
        }
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Nearest-neighbour upscaling, so 64×64 frames are visible on screen.
pub fn upscale(img: &Image, k: usize) -> Image {
    img.upscaled(k)
}

/// Encode one RGB image as PNG.
pub fn write_png(w: impl std::io::Write, img: &Image) -> anyhow::Result<()> {
    let mut enc = png::Encoder::new(w, img.width as u32, img.height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&img.rgb)?;
    Ok(())
}

fn write_gif(
    w: impl std::io::Write,
    frames: &[Image],
    fps: u32,
    scale: usize,
) -> anyhow::Result<()> {
    let first = upscale(&frames[0], scale);
    let mut enc = gif::Encoder::new(w, first.width as u16, first.height as u16, &[])?;
    enc.set_repeat(gif::Repeat::Infinite)?;
    let delay = (100 / fps.max(1)).max(2) as u16;
    for f in frames {
        let big = upscale(f, scale);
        let mut frame =
            gif::Frame::from_rgb_speed(big.width as u16, big.height as u16, &big.rgb, 10);
        frame.delay = delay;
        enc.write_frame(&frame)?;
    }
    Ok(())
}
