//! Shared PDF helpers: the Liberation Sans metrics shipped in `static/fonts/` (OFL 1.1) mapped to
//! the PDF built-in Helvetica faces, so documents stay small and their text selectable.

/// Keeps text in Latin-1 (the built-in PDF fonts' range), replacing typographic punctuation.
pub fn latin1(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2013}' | '\u{2014}' => '-',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            c if (c as u32) < 256 => c,
            _ => '?',
        })
        .collect()
}

/// The font family for documents.
pub fn fonts() -> Result<genpdf::fonts::FontFamily<genpdf::fonts::FontData>, String> {
    let h = |data: &'static [u8], f: printpdf::BuiltinFont| {
        genpdf::fonts::FontData::new(data.to_vec(), Some(f)).map_err(|e| e.to_string())
    };
    Ok(genpdf::fonts::FontFamily {
        regular: h(
            include_bytes!("../../static/fonts/LiberationSans-Regular.ttf"),
            printpdf::BuiltinFont::Helvetica,
        )?,
        bold: h(
            include_bytes!("../../static/fonts/LiberationSans-Bold.ttf"),
            printpdf::BuiltinFont::HelveticaBold,
        )?,
        italic: h(
            include_bytes!("../../static/fonts/LiberationSans-Italic.ttf"),
            printpdf::BuiltinFont::HelveticaOblique,
        )?,
        bold_italic: h(
            include_bytes!("../../static/fonts/LiberationSans-BoldItalic.ttf"),
            printpdf::BuiltinFont::HelveticaBoldOblique,
        )?,
    })
}
