/*
 * Names people show to each other (display names, organization names) must look like what they
 * are. Beyond control characters, which the validators refuse with [[:cntrl:]], that rules out
 * the characters that show nothing themselves but change what is shown around them or hide in
 * it: "Acme", U+202E (right-to-left override), "gnp.exe" reads as "Acmeexe.png", and a
 * zero-width space makes two names that look the same compare different. Postgres regular
 * expressions know no Unicode categories, so the list is spelled out, once, here.
 */

/* Every format character (Unicode 15 general category Cf): the bidi controls U+061C, U+200E,
   U+200F, U+202A-U+202E, U+2066-U+2069; the zero-width and invisible ones U+00AD, U+180E,
   U+200B-U+200D, U+2060-U+2064, U+FEFF, U+E0001, the tags U+E0020-U+E007F; and the rarer
   U+0600-U+0605, U+06DD, U+070F, U+0890-U+0891, U+08E2, U+206A-U+206F, U+FFF9-U+FFFB,
   U+110BD, U+110CD, U+13430-U+1343F, U+1BCA0-U+1BCA3, U+1D173-U+1D17A. Also the
   default-ignorable characters that are not Cf but show as nothing: the combining grapheme
   joiner U+034F, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the Khmer inherent vowels
   U+17B4-U+17B5, and the reserved U+2065, U+FFF0-U+FFF8, U+E0000, U+E0002-U+E001F,
   U+E0080-U+E00FF, U+E01F0-U+E0FFF. Variation selectors (U+FE00-U+FE0F, U+180B-U+180D,
   U+180F, U+E0100-U+E01EF) stay allowed: emoji and Mongolian need them, and they change only
   the glyph of the character before them. */
create function app.has_invisible_characters(p_text text) returns boolean
language sql immutable parallel safe
return p_text ~ ('[\u00AD\u034F\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u115F-\u1160'
                 '\u17B4-\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0'
                 '\uFFF0-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3'
                 '\U0001D173-\U0001D17A\U000E0000-\U000E00FF\U000E01F0-\U000E0FFF]');

comment on function app.has_invisible_characters(text) is
  'Whether the text holds a bidi control, a zero-width or other format character (Unicode Cf) or another character that shows as nothing.';
