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
   the glyph of the character before them. Nor do the characters that show as nothing defined:
   the line and paragraph separators U+2028-U+2029 (they break the line a name is shown on), the
   noncharacters (U+FDD0-U+FDEF and the last two of every plane) and the private use areas
   (U+E000-U+F8FF and planes 15 and 16), whose glyphs are whatever a font makes of them. */
create function app.has_invisible_characters(p_text text) returns boolean
language sql immutable parallel safe
return p_text ~ ('[\u00AD\u034F\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u115F-\u1160'
                 '\u17B4-\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0'
                 '\uFFF0-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3'
                 '\U0001D173-\U0001D17A\U000E0000-\U000E00FF\U000E01F0-\U000E0FFF'
                 '\u2028-\u2029\uE000-\uF8FF\uFDD0-\uFDEF\uFFFE-\uFFFF\U000F0000-\U0010FFFF'
                 '\U0001FFFE-\U0001FFFF\U0002FFFE-\U0002FFFF\U0003FFFE-\U0003FFFF\U0004FFFE-\U0004FFFF'
                 '\U0005FFFE-\U0005FFFF\U0006FFFE-\U0006FFFF\U0007FFFE-\U0007FFFF\U0008FFFE-\U0008FFFF'
                 '\U0009FFFE-\U0009FFFF\U000AFFFE-\U000AFFFF\U000BFFFE-\U000BFFFF\U000CFFFE-\U000CFFFF'
                 '\U000DFFFE-\U000DFFFF\U000EFFFE-\U000EFFFF]');

comment on function app.has_invisible_characters(text) is
  'Whether the text holds a bidi control, a zero-width or other format character (Unicode Cf), another character that shows as nothing, a line or paragraph separator, a noncharacter or a private-use character.';

/* The text without the zero-width joiner (U+200D) and non-joiner (U+200C) where they join, as
   IDNA allows them (RFC 5892, appendix A) and emoji need them: a joiner between two emoji (the
   woman and the laptop make one technologist, the white flag and the rainbow one rainbow flag,
   and the families are one emoji each only so), either after a virama (the conjuncts of
   Devanagari and the other Indic and Southeast Asian scripts), a non-joiner between two letters
   of the Arabic script (Persian names: U+06CC U+200C U+0627 in Ali-Akbar) that would join
   without it: the one before joins to the left (Joining_Type D: beh, yeh, not alef, dal, reh,
   waw, which join only to the right), the one after to the right (D or R: not hamza, nor the
   Persian digits, which join nothing), marks (T) between them. After alef or before hamza the
   non-joiner changes nothing shown, and two names that look the same compared different.
   Anywhere else they hide in a name as a zero-width space does: app.has_invisible_characters
   finds what is left.
   The emoji are those of the blocks of pictographs, symbols and dingbats (U+2600-U+27BF,
   U+1F000-U+1FAFF, the skin tones among them), with the variation selector U+FE0F that may
   follow one. */
create function app.without_joining_controls(p_text text) returns text
language sql immutable parallel safe
return pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.regexp_replace(p_text,
  '([\u2600-\u27BF\U0001F000-\U0001FAFF]\uFE0F?)\u200D(?=[\u2600-\u27BF\U0001F000-\U0001FAFF])', '\1', 'g'),
  '([\u094D\u09CD\u0A4D\u0ACD\u0B4D\u0BCD\u0C4D\u0CCD\u0D3B\u0D3C\u0D4D\u0DCA\u0E3A\u0EBA\u0F84'
  '\u1039\u103A\u1714\u1715\u1734\u17D2\u1A60\u1B44\u1BAA\u1BAB\u1BF2\u1BF3\u2D7F\uA806'
  '\uA82C\uA8C4\uA953\uA9C0\uAAF6\uABED])[\u200C\u200D]', '\1', 'g'),
  '([\u0620\u0626\u0628\u062A-\u062E\u0633-\u063F\u0641-\u0647\u0649\u064A\u066E\u066F\u0678-\u0687'
  '\u069A-\u06BF\u06C1\u06C2\u06CC\u06CE\u06D0\u06D1\u06FA-\u06FC\u06FF\u0750-\u0758\u075C-\u076A'
  '\u076D-\u0770\u0772\u0775-\u0777\u077A-\u077F\u08A0-\u08A9\u08AF\u08B0\u08B3-\u08B8\u08BA-\u08C8]'
  '[\u064B-\u065F\u0670]*)\u200C'
  '(?=[\u064B-\u065F\u0670]*[\u0620\u0622-\u063F\u0641-\u064A\u066E\u066F\u0671-\u0673\u0675-\u06D3\u06D5'
  '\u06EE\u06EF\u06FA-\u06FC\u06FF\u0750-\u077F\u08A0-\u08AC\u08AE-\u08C8])', '\1', 'g');

comment on function app.without_joining_controls(text) is
  'The text without the zero-width joiners and non-joiners that join: between two emoji, after a virama, between two Arabic-script letters that would join without it (RFC 5892).';

/* The blanks a name may be padded with or made of: the space separators (Unicode Zs) and the
   braille blank U+2800, which shows as a space. */
create function app.trimmed_name(p_name text) returns text
language sql immutable parallel safe
return pg_catalog.regexp_replace(p_name,
  '^[ \u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u2800]+|[ \u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u2800]+$', '', 'g');

comment on function app.trimmed_name(text) is
  'The name without the spaces of any kind (and braille blanks) around it.';

/* A name must show something: not only blanks, variation selectors and combining marks (the
   generic blocks U+0300-U+036F, U+1AB0-U+1AFF, U+1DC0-U+1DFF, U+20D0-U+20FF, U+FE20-U+FE2F),
   which need a character to sit on. */
create function app.shows_nothing(p_name text) returns boolean
language sql immutable parallel safe
return app.trimmed_name(pg_catalog.regexp_replace(p_name,
  '[\u180B-\u180D\u180F\uFE00-\uFE0F\U000E0100-\U000E01EF\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F]',
  '', 'g')) = '';

comment on function app.shows_nothing(text) is
  'Whether the name is made of blanks, variation selectors and combining marks alone.';

/* What is wrong with a name shown to other people, already trimmed (app.trimmed_name), or null
   when nothing is: 'shape' when it is empty, over 100 characters, shows nothing or holds a
   control character; 'hidden' when it holds a bidi control or an invisible character. The one
   rule for display names and organization names; each of their validators raises its own code. */
create function app.name_fault(p_name text) returns text
language sql immutable parallel safe
return case
  when p_name is null or pg_catalog.char_length(p_name) not between 1 and 100 or p_name ~ '[[:cntrl:]]'
       or app.shows_nothing(p_name) then 'shape'
  when app.has_invisible_characters(app.without_joining_controls(p_name)) then 'hidden'
end;

comment on function app.name_fault(text) is
  'What is wrong with a trimmed name shown to others: shape (empty, over 100 characters, blank, control characters), hidden (bidi controls, invisible characters), or null.';
