//! Post-processing of screenshots with the `image` crate.
//!
//! Chrome does the downscaling itself (see the renderer), which keeps JPEG and WebP quality
//! settings intact; this module reads the result's dimensions and corrects the rare case
//! where Chrome's rounding leaves an image a pixel larger than the caller's maximum.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{ImageFormat as Codec, ImageReader, Limits};

use crate::job::ImageFormat;

/// Decoding never allocates more than this, whatever the image claims about itself.
const MAX_DECODE_BYTES: u64 = 1 << 30;

pub fn dimensions(bytes: &[u8]) -> image::ImageResult<(u32, u32)> {
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_dimensions()
}

/// Returns the image unchanged when it fits, else resized (aspect kept) to fit.
pub fn fit_within(
    bytes: Vec<u8>,
    format: ImageFormat,
    quality: Option<u8>,
    width: u32,
    height: u32,
    max_width: Option<u32>,
    max_height: Option<u32>,
) -> image::ImageResult<(Vec<u8>, u32, u32)> {
    let max_w = max_width.unwrap_or(u32::MAX);
    let max_h = max_height.unwrap_or(u32::MAX);
    if width <= max_w && height <= max_h {
        return Ok((bytes, width, height));
    }
    let mut reader = ImageReader::new(Cursor::new(&bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let resized = reader.decode()?.resize(max_w, max_h, FilterType::Lanczos3);
    let mut out = Vec::new();
    match format {
        ImageFormat::Png => resized.write_to(&mut Cursor::new(&mut out), Codec::Png)?,
        ImageFormat::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, quality.unwrap_or(80));
            resized.to_rgb8().write_with_encoder(encoder)?;
        }
        // Lossless: the image crate has no lossy WebP encoder. Only reached when Chrome's
        // rounding overshoots by a pixel.
        ImageFormat::Webp => resized.write_to(&mut Cursor::new(&mut out), Codec::WebP)?,
    }
    Ok((out, resized.width(), resized.height()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(width, height, Rgb([200, 10, 10]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), Codec::Png)
            .unwrap();
        out
    }

    #[test]
    fn keeps_an_image_that_fits() {
        let bytes = png(10, 20);
        let (out, w, h) = fit_within(
            bytes.clone(),
            ImageFormat::Png,
            None,
            10,
            20,
            Some(10),
            None,
        )
        .unwrap();
        assert_eq!((out, w, h), (bytes, 10, 20));
    }

    #[test]
    fn shrinks_an_image_that_overshoots_keeping_aspect() {
        let (out, w, h) = fit_within(
            png(101, 50),
            ImageFormat::Jpeg,
            Some(70),
            101,
            50,
            Some(100),
            None,
        )
        .unwrap();
        assert_eq!((w, h), (100, 50));
        assert_eq!(dimensions(&out).unwrap(), (100, 50));
    }
}
