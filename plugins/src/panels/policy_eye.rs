//! The policy's eye: the camera image and the goal image exactly as the
//! policy receives them, enlarged with nearest filtering so every pixel
//! stays visible.

use bevy_egui::egui;

/// On-screen side of each image (points).
const SIDE: f32 = 192.0;

/// What the panel shows: textures of the observation and goal images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyEyeView {
    /// The current camera image, if the environment renders one.
    pub obs: Option<egui::TextureId>,
    /// The episode's goal image.
    pub goal: Option<egui::TextureId>,
    /// The stored image of the same step, while a dataset episode is
    /// replayed (to compare with the live one).
    pub recorded: Option<egui::TextureId>,
    /// Image side in pixels.
    pub pixels: usize,
}

/// Draw the two images side by side (and the recorded one under them
/// during a replay), or say why there are none.
pub fn policy_eye(ui: &mut egui::Ui, v: &PolicyEyeView) {
    ui.horizontal(|ui| {
        for (caption, tex) in [("observation", v.obs), ("goal", v.goal)] {
            ui.vertical(|ui| {
                ui.label(format!("{caption} {0}×{0}", v.pixels));
                match tex {
                    Some(id) => {
                        let sized = egui::load::SizedTexture::new(id, [SIDE, SIDE]);
                        ui.image(sized);
                    }
                    None => {
                        ui.label("no image: rendering is off");
                    }
                }
            });
        }
    });
    // Below, not beside: a third image would widen the panel.
    if let Some(id) = v.recorded {
        ui.label(format!(
            "recorded {0}×{0} (the dataset's, same step)",
            v.pixels
        ));
        ui.image(egui::load::SizedTexture::new(id, [SIDE, SIDE]));
    }
}

/// An egui image of RGB8 pixels; `None` when the buffer does not hold
/// `width * height` pixels (an environment with rendering off).
pub fn color_image(width: usize, height: usize, rgb: &[u8]) -> Option<egui::ColorImage> {
    (width > 0 && height > 0 && rgb.len() == width * height * 3)
        .then(|| egui::ColorImage::from_rgb([width, height], rgb))
}

#[cfg(test)]
mod tests {
    use bevy_egui::egui;

    use super::{PolicyEyeView, color_image, policy_eye};
    use crate::testing::panel_text;

    #[test]
    fn eye_shows_both_images_or_why_not() {
        let ctx = egui::Context::default();
        let img = color_image(2, 2, &[255; 12]).expect("image");
        let tex = ctx.load_texture("obs", img, egui::TextureOptions::NEAREST);
        let v = PolicyEyeView {
            obs: Some(tex.id()),
            goal: None,
            recorded: None,
            pixels: 2,
        };
        let text = panel_text(|ui| policy_eye(ui, &v));
        assert!(text.contains("observation 2×2") && text.contains("goal 2×2"));
        assert!(
            text.contains("rendering is off"),
            "the missing goal is explained"
        );
        assert!(color_image(2, 2, &[]).is_none(), "no pixels, no image");
    }
}
