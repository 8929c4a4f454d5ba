//! The capture panel: screenshots of the window, the 3D view and the
//! policy's observation; videos of the 3D view or of the observation.

use bevy_egui::egui;

use crate::capture::{CaptureCmd, Shot, VideoSource};
use crate::encode::VideoFormat;

/// What the panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaptureView {
    /// The video in progress: what it shows, frames so far, its file.
    pub video: Option<(VideoSource, usize, String)>,
    /// Videos still being encoded.
    pub encoding: usize,
    /// Screenshots being written.
    pub pending: usize,
    /// The last file saved, or the last error.
    pub message: Option<Result<String, String>>,
    /// Where captures go by default.
    pub dir: String,
}

/// Choices kept in egui's memory between frames: they only shape the next
/// command, so the studio's state need not hold them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Choices {
    source: VideoSource,
    format: VideoFormat,
    ask: bool,
}

impl Default for Choices {
    fn default() -> Self {
        Self {
            source: VideoSource::View,
            format: VideoFormat::Mp4,
            ask: false,
        }
    }
}

fn source_name(s: VideoSource) -> &'static str {
    match s {
        VideoSource::View => "3D view",
        VideoSource::Eye => "observation",
    }
}

/// Draw the panel; buttons push [`CaptureCmd`]s.
pub fn capture(ui: &mut egui::Ui, v: &CaptureView, cmds: &mut Vec<CaptureCmd>) {
    ui.heading("Capture");
    let id = ui.id().with("capture-choices");
    let mut c: Choices = ui.data_mut(|d| d.get_temp(id)).unwrap_or_default();
    let wrap = |cmd: CaptureCmd, ask: bool| {
        if ask {
            CaptureCmd::SaveAs(Box::new(cmd))
        } else {
            cmd
        }
    };
    ui.horizontal(|ui| {
        ui.label("PNG of the");
        for (label, shot, hint) in [
            ("window", Shot::Window, "the whole window (F12)"),
            ("3D view", Shot::View, "the 3D view between the panels"),
            (
                "observation",
                Shot::Eye,
                "the policy's camera image, at its own size",
            ),
        ] {
            if ui.button(label).on_hover_text(hint).clicked() {
                cmds.push(wrap(CaptureCmd::Screenshot(shot, None), c.ask));
            }
        }
    });
    match &v.video {
        Some((source, frames, path)) => {
            ui.colored_label(
                egui::Color32::from_rgb(230, 70, 60),
                format!(
                    "recording video of the {}: {frames} frames",
                    source_name(*source)
                ),
            );
            ui.label(egui::RichText::new(path).small());
            if ui.button("⏹ stop video").clicked() {
                cmds.push(CaptureCmd::StopVideo);
            }
        }
        None => {
            ui.horizontal(|ui| {
                ui.label("video of the");
                for s in [VideoSource::View, VideoSource::Eye] {
                    ui.radio_value(&mut c.source, s, source_name(s));
                }
            });
            ui.horizontal(|ui| {
                ui.radio_value(&mut c.format, VideoFormat::Mp4, "MP4");
                ui.radio_value(&mut c.format, VideoFormat::Gif, "GIF");
                let start = ui
                    .button("start video")
                    .on_hover_text("one frame per 1/25 s of simulated time");
                if start.clicked() {
                    cmds.push(wrap(
                        CaptureCmd::StartVideo(c.source, c.format, None),
                        c.ask,
                    ));
                }
            });
        }
    }
    ui.checkbox(&mut c.ask, "ask where to save");
    ui.label(egui::RichText::new(format!("else into {}", v.dir)).small());
    if v.encoding > 0 || v.pending > 0 {
        ui.label(format!(
            "writing: {} video(s), {} image(s)…",
            v.encoding, v.pending
        ));
    }
    match &v.message {
        Some(Ok(path)) => {
            ui.label(format!("saved {path}"));
        }
        Some(Err(e)) => {
            ui.colored_label(egui::Color32::from_rgb(230, 90, 70), e);
        }
        None => {}
    }
    ui.data_mut(|d| d.insert_temp(id, c));
}

#[cfg(test)]
mod tests {
    use super::{CaptureView, capture};
    use crate::capture::{CaptureCmd, Shot, VideoSource};
    use crate::encode::VideoFormat;
    use crate::testing::{click, panel_text};

    #[test]
    fn buttons_push_capture_commands() {
        let v = CaptureView::default();
        assert_eq!(
            click("window", |ui, c| capture(ui, &v, c)),
            vec![CaptureCmd::Screenshot(Shot::Window, None)]
        );
        assert_eq!(
            click("observation", |ui, c| capture(ui, &v, c)),
            vec![CaptureCmd::Screenshot(Shot::Eye, None)]
        );
        assert_eq!(
            click("start video", |ui, c| capture(ui, &v, c)),
            vec![CaptureCmd::StartVideo(
                VideoSource::View,
                VideoFormat::Mp4,
                None
            )]
        );
    }

    #[test]
    fn a_recording_video_shows_its_progress_and_stops() {
        let v = CaptureView {
            video: Some((VideoSource::Eye, 12, "captures/eye.mp4".into())),
            encoding: 1,
            pending: 0,
            message: Some(Err("cannot create captures: read-only".into())),
            dir: "sessions/default/captures".into(),
        };
        let text = panel_text(|ui| capture(ui, &v, &mut Vec::new()));
        for needle in [
            "observation: 12 frames",
            "captures/eye.mp4",
            "1 video(s)",
            "read-only",
            "sessions/default/captures",
        ] {
            assert!(text.contains(needle), "the panel must show {needle}");
        }
        assert_eq!(
            click("⏹ stop video", |ui, c| capture(ui, &v, c)),
            vec![CaptureCmd::StopVideo]
        );
    }
}
