//! The invoice PDF: vendor block and document title, customer and payment details, the lines
//! table with right-aligned amounts, totals, and the payment instructions. Rendered once at
//! issue and stored; downloads serve the stored bytes.

use genpdf::elements::{Break, FrameCellDecorator, LinearLayout, Paragraph, TableLayout};
use genpdf::style::{Style, StyledString};
use genpdf::{Alignment, Element};

use super::invoice::Document;
use super::money;
use crate::web::pdf::{fonts, latin1};

/// Checks an uploaded logo: PNG or JPEG (by magic bytes) that decodes, at most 4,000 pixels a
/// side. Returns why not, in words for the field.
pub fn check_logo(bytes: &[u8]) -> Result<(), String> {
    let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    if !png && !jpeg {
        return Err("Upload the logo as a PNG or JPEG image.".into());
    }
    let unreadable = || "That image could not be read. Save it again as PNG or JPEG.".to_string();
    // The size from the header first: decoding allocates every pixel up front, so a few hundred
    // bytes claiming 65,000 × 65,000 pixels would take gigabytes and minutes to refuse. Read by
    // hand: even asked only for the size, the image crate allocates a row of pixels from the
    // header (78 bytes claiming a PNG 687 million pixels wide took 2.7 GB; wider ones abort).
    let (width, height) = header_size(bytes).ok_or_else(unreadable)?;
    if width > 4000 || height > 4000 {
        return Err("The logo is larger than 4,000 pixels on a side; use a smaller one.".into());
    }
    image::load_from_memory(bytes).map_err(|_| unreadable())?;
    Ok(())
}

/// The width and height a PNG (its `IHDR` chunk) or a JPEG (its first frame header) states.
fn header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let be32 = |at: usize| bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
    let be16 = |at: usize| bytes.get(at..at + 2).map(|b| u32::from(b[0]) << 8 | u32::from(b[1]));
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return (bytes.get(12..16) == Some(b"IHDR")).then(|| Some((be32(16)?, be32(20)?))).flatten();
    }
    // JPEG: segments after the start-of-image marker, up to the first start-of-frame (SOFn).
    let mut i = 2;
    loop {
        if *bytes.get(i)? != 0xFF {
            return None;
        }
        while *bytes.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = *bytes.get(i + 1)?;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            0xD0..=0xD8 | 0x01 => i += 2,
            0xD9 | 0xDA => return None,
            _ => i += 2 + usize::try_from(be16(i + 2)?).ok()?,
        }
    }
}

/// The logo as a PDF image about 45 mm wide, transparency flattened onto white (the PDF
/// library takes no alpha channel).
fn logo_image(bytes: &[u8]) -> Option<genpdf::elements::Image> {
    let img = image::load_from_memory(bytes).ok()?.to_rgba8();
    let (w, h) = img.dimensions();
    let mut rgb = image::RgbImage::new(w, h);
    for (x, y, px) in img.enumerate_pixels() {
        let a = f32::from(px[3]) / 255.0;
        let blend = |c: u8| (f32::from(c) * a + 255.0 * (1.0 - a)).round() as u8;
        rgb.put_pixel(x, y, image::Rgb([blend(px[0]), blend(px[1]), blend(px[2])]));
    }
    let el = genpdf::elements::Image::from_dynamic_image(image::DynamicImage::ImageRgb8(rgb)).ok()?;
    // At 300 dpi a 530-pixel-wide logo is 45 mm; scale others to that width.
    let scale = (530.0 / f64::from(w.max(1))).min(4.0);
    Some(el.with_scale(genpdf::Scale::new(scale, scale)))
}

fn p(s: &str) -> Paragraph {
    Paragraph::new(latin1(s))
}

/// Renders the invoice, with the vendor's logo (PNG or JPEG bytes) when there is one.
pub fn render(d: &Document, logo: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let cur = money::currency(&d.invoice.currency).ok_or("unknown currency")?;
    let fmt = |m: i64| money::format_with_code(m, cur);
    let number = d.invoice.number.clone().unwrap_or_else(|| "DRAFT".into());
    let mut doc = genpdf::Document::new(fonts()?);
    doc.set_minimal_conformance();
    doc.set_title(latin1(&format!("Invoice {number}")));
    doc.set_font_size(10);
    let mut deco = genpdf::SimplePageDecorator::new();
    deco.set_margins(18);
    doc.set_page_decorator(deco);

    let mut head = TableLayout::new(vec![1, 1]);
    let mut vendor = LinearLayout::vertical();
    if let Some(img) = logo.and_then(logo_image) {
        vendor.push(img);
        vendor.push(Break::new(0.3));
    }
    vendor.push(Paragraph::new(StyledString::new(
        latin1(&d.vendor.legal_name),
        Style::new().bold().with_font_size(13),
    )));
    for line in d.vendor.address.lines() {
        vendor.push(p(line));
    }
    if !d.vendor.tax_id.is_empty() {
        vendor.push(p(&d.vendor.tax_id));
    }
    let mut title = LinearLayout::vertical();
    title.push(
        Paragraph::new(StyledString::new("INVOICE", Style::new().bold().with_font_size(18)))
            .aligned(Alignment::Right),
    );
    title.push(p(&number).aligned(Alignment::Right));
    if let Some(d) = d.invoice.issue_date {
        title.push(p(&format!("Issued {d}")).aligned(Alignment::Right));
    }
    if let Some(d) = d.invoice.due_date {
        title.push(p(&format!("Due {d}")).aligned(Alignment::Right));
    }
    if d.invoice.status == "void" {
        title.push(Break::new(0.8));
        title.push(
            Paragraph::new(StyledString::new("VOID", Style::new().bold().with_font_size(16)))
                .aligned(Alignment::Right),
        );
        if let Some(at) = d.invoice.voided_at {
            title.push(p(&format!("Voided {}", at.format("%Y-%m-%d"))).aligned(Alignment::Right));
        }
        if let Some(r) = &d.invoice.void_reason {
            title.push(p(&format!("Reason: {r}")).aligned(Alignment::Right));
        }
    }
    head.row().element(vendor).element(title).push().map_err(|e| e.to_string())?;
    doc.push(head);
    doc.push(Break::new(1.5));

    let pr = &d.profile;
    let mut bill = LinearLayout::vertical();
    bill.push(Paragraph::new(StyledString::new("Bill to", Style::new().bold())));
    bill.push(p(&d.tenant_name));
    for l in [&pr.address_line1, &pr.address_line2] {
        if !l.is_empty() {
            bill.push(p(l));
        }
    }
    bill.push(p(&format!("{}, {} {}", pr.city, pr.region, pr.postal_code)));
    bill.push(p(&pr.country));
    for contact in &d.contacts {
        match contact.split_once(" <") {
            Some((name, email)) => {
                bill.push(p(&format!("Attn: {name}")));
                bill.push(p(email.trim_end_matches('>')));
            }
            None => bill.push(p(contact)),
        }
    }
    let mut refs = LinearLayout::vertical();
    refs.push(Paragraph::new(StyledString::new("Details", Style::new().bold())));
    if let Some(po) = &d.invoice.po_number {
        refs.push(p(&format!("PO number: {po}")));
    }
    refs.push(p(&format!("Payment terms: net {} days", pr.terms_days)));
    refs.push(p(&format!("Currency: {}", cur.code)));
    if !pr.cost_centre.is_empty() {
        refs.push(p(&format!("Cost centre: {}", pr.cost_centre)));
    }
    if !pr.tax_exempt_note.is_empty() {
        refs.push(p(&pr.tax_exempt_note));
    }
    let mut parties = TableLayout::new(vec![1, 1]);
    parties.row().element(bill).element(refs).push().map_err(|e| e.to_string())?;
    doc.push(parties);
    doc.push(Break::new(1.5));

    let mut t = TableLayout::new(vec![6, 2, 2, 2]);
    t.set_cell_decorator(FrameCellDecorator::new(true, true, false));
    let h = |s: &str, right: bool| {
        let para = Paragraph::new(StyledString::new(s.to_string(), Style::new().bold()));
        (if right { para.aligned(Alignment::Right) } else { para }).padded(1)
    };
    t.row()
        .element(h("Description", false))
        .element(h("Quantity", true))
        .element(h("Unit price", true))
        .element(h("Amount", true))
        .push()
        .map_err(|e| e.to_string())?;
    for l in &d.lines {
        let right = |s: String| p(&s).aligned(Alignment::Right).padded(1);
        t.row()
            .element(p(&l.description).padded(1))
            .element(right(l.quantity.clone()))
            .element(right(format!(
                "{} {}",
                cur.code,
                super::invoice::parse_decimal(&l.unit_price)
                    .map(|d| money::format_unit_price(d, cur))
                    .unwrap_or_else(|| l.unit_price.clone())
            )))
            .element(right(fmt(l.amount_minor)))
            .push()
            .map_err(|e| e.to_string())?;
    }
    doc.push(t);
    doc.push(Break::new(0.5));
    let mut totals = TableLayout::new(vec![8, 2, 2]);
    let row = |t: &mut TableLayout, label: &str, v: i64, bold: bool| {
        let style = if bold { Style::new().bold() } else { Style::new() };
        t.row()
            .element(p(""))
            .element(Paragraph::new(StyledString::new(label.to_string(), style)).aligned(Alignment::Right))
            .element(Paragraph::new(StyledString::new(latin1(&fmt(v)), style)).aligned(Alignment::Right))
            .push()
            .map_err(|e| e.to_string())
    };
    row(&mut totals, "Subtotal", d.invoice.subtotal_minor, false)?;
    row(
        &mut totals,
        &format!("Tax ({:.2}%)", f64::from(d.invoice.tax_rate_bp) / 100.0),
        d.invoice.tax_minor,
        false,
    )?;
    row(&mut totals, "Total", d.invoice.total_minor, true)?;
    let due = if d.invoice.status == "issued" { d.invoice.total_minor } else { 0 };
    row(&mut totals, "Amount due", due, true)?;
    doc.push(totals);
    if !d.invoice.notes.trim().is_empty() {
        doc.push(Break::new(1.0));
        for line in d.invoice.notes.lines() {
            doc.push(p(line));
        }
    }
    doc.push(Break::new(1.5));
    let mut pay = LinearLayout::vertical();
    pay.push(Paragraph::new(StyledString::new("How to pay", Style::new().bold())));
    for line in d.vendor.remit_to.lines() {
        pay.push(p(line));
    }
    pay.push(p(&format!("Please quote {number} with your payment.")));
    doc.push(pay.padded(2).framed());
    if !d.vendor.invoice_footer.is_empty() {
        doc.push(Break::new(1.0));
        doc.push(p(&d.vendor.invoice_footer).styled(Style::new().with_font_size(8)));
    }
    let mut out = Vec::new();
    doc.render(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(b"\x08\x06\0\0\0\x56\x28\xb5\xbf\0\0\0\0IEND\xaeB`\x82");
        b
    }

    #[test]
    fn logo_size_is_read_from_the_header_before_decoding() {
        // Found by fuzzing (upload_sniff): this header made the image crate allocate 2.7 GB.
        assert_eq!(header_size(&png(0x2900_0003, 3)), Some((0x2900_0003, 3)));
        assert!(check_logo(&png(0x2900_0003, 3)).unwrap_err().contains("4,000 pixels"));
        assert!(check_logo(&png(3, u32::MAX)).unwrap_err().contains("4,000 pixels"));
        assert!(check_logo(&png(3, 3)).unwrap_err().contains("could not be read"), "no pixel data");
        // JPEG: an APP0 segment, then a baseline frame header 65,000 high and 640 wide.
        let jpeg = b"\xff\xd8\xff\xe0\x00\x04JF\xff\xff\xc0\x00\x11\x08\xfd\xe8\x02\x80\x03";
        assert_eq!(header_size(jpeg), Some((640, 65000)));
        assert!(check_logo(jpeg).unwrap_err().contains("4,000 pixels"));
        assert_eq!(header_size(b"\xff\xd8\xff\xda\x00\x02"), None, "a scan before any frame");
        assert_eq!(header_size(b"\xff\xd8\xff\xe0\xff\xff"), None, "a segment past the end");
    }
}
