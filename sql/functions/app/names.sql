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

/* A name must show something: not only blanks and marks, which need a character to sit on.
   The marks are every code point of Unicode 14's general categories Mn, Mc and Me (Python
   3.11's unicodedata; tests/test_names.py checks the list against it): the combining accents,
   the Hebrew points, the Arabic harakat, the vowel signs of the Indic and Southeast Asian
   scripts, the enclosing circles, the variation selectors. Only the generic blocks of combining
   marks were listed, and a name of Hebrew accents alone was taken, shown as a blank. */
create function app.shows_nothing(p_name text) returns boolean
language sql immutable parallel safe
return app.trimmed_name(pg_catalog.regexp_replace(p_name,
  '[\u0300-\u036F\u0483-\u0489\u0591-\u05BD\u05BF\u05C1\u05C2\u05C4\u05C5\u05C7\u0610-\u061A'
  '\u064B-\u065F\u0670\u06D6-\u06DC\u06DF-\u06E4\u06E7\u06E8\u06EA-\u06ED\u0711\u0730-\u074A'
  '\u07A6-\u07B0\u07EB-\u07F3\u07FD\u0816-\u0819\u081B-\u0823\u0825-\u0827\u0829-\u082D'
  '\u0859-\u085B\u0898-\u089F\u08CA-\u08E1\u08E3-\u0903\u093A-\u093C\u093E-\u094F'
  '\u0951-\u0957\u0962\u0963\u0981-\u0983\u09BC\u09BE-\u09C4\u09C7\u09C8\u09CB-\u09CD\u09D7'
  '\u09E2\u09E3\u09FE\u0A01-\u0A03\u0A3C\u0A3E-\u0A42\u0A47\u0A48\u0A4B-\u0A4D\u0A51'
  '\u0A70\u0A71\u0A75\u0A81-\u0A83\u0ABC\u0ABE-\u0AC5\u0AC7-\u0AC9\u0ACB-\u0ACD\u0AE2\u0AE3'
  '\u0AFA-\u0AFF\u0B01-\u0B03\u0B3C\u0B3E-\u0B44\u0B47\u0B48\u0B4B-\u0B4D\u0B55-\u0B57'
  '\u0B62\u0B63\u0B82\u0BBE-\u0BC2\u0BC6-\u0BC8\u0BCA-\u0BCD\u0BD7\u0C00-\u0C04\u0C3C'
  '\u0C3E-\u0C44\u0C46-\u0C48\u0C4A-\u0C4D\u0C55\u0C56\u0C62\u0C63\u0C81-\u0C83\u0CBC'
  '\u0CBE-\u0CC4\u0CC6-\u0CC8\u0CCA-\u0CCD\u0CD5\u0CD6\u0CE2\u0CE3\u0D00-\u0D03\u0D3B\u0D3C'
  '\u0D3E-\u0D44\u0D46-\u0D48\u0D4A-\u0D4D\u0D57\u0D62\u0D63\u0D81-\u0D83\u0DCA\u0DCF-\u0DD4'
  '\u0DD6\u0DD8-\u0DDF\u0DF2\u0DF3\u0E31\u0E34-\u0E3A\u0E47-\u0E4E\u0EB1\u0EB4-\u0EBC'
  '\u0EC8-\u0ECD\u0F18\u0F19\u0F35\u0F37\u0F39\u0F3E\u0F3F\u0F71-\u0F84\u0F86\u0F87'
  '\u0F8D-\u0F97\u0F99-\u0FBC\u0FC6\u102B-\u103E\u1056-\u1059\u105E-\u1060\u1062-\u1064'
  '\u1067-\u106D\u1071-\u1074\u1082-\u108D\u108F\u109A-\u109D\u135D-\u135F\u1712-\u1715'
  '\u1732-\u1734\u1752\u1753\u1772\u1773\u17B4-\u17D3\u17DD\u180B-\u180D\u180F\u1885\u1886'
  '\u18A9\u1920-\u192B\u1930-\u193B\u1A17-\u1A1B\u1A55-\u1A5E\u1A60-\u1A7C\u1A7F\u1AB0-\u1ACE'
  '\u1B00-\u1B04\u1B34-\u1B44\u1B6B-\u1B73\u1B80-\u1B82\u1BA1-\u1BAD\u1BE6-\u1BF3'
  '\u1C24-\u1C37\u1CD0-\u1CD2\u1CD4-\u1CE8\u1CED\u1CF4\u1CF7-\u1CF9\u1DC0-\u1DFF\u20D0-\u20F0'
  '\u2CEF-\u2CF1\u2D7F\u2DE0-\u2DFF\u302A-\u302F\u3099\u309A\uA66F-\uA672\uA674-\uA67D'
  '\uA69E\uA69F\uA6F0\uA6F1\uA802\uA806\uA80B\uA823-\uA827\uA82C\uA880\uA881\uA8B4-\uA8C5'
  '\uA8E0-\uA8F1\uA8FF\uA926-\uA92D\uA947-\uA953\uA980-\uA983\uA9B3-\uA9C0\uA9E5\uAA29-\uAA36'
  '\uAA43\uAA4C\uAA4D\uAA7B-\uAA7D\uAAB0\uAAB2-\uAAB4\uAAB7\uAAB8\uAABE\uAABF\uAAC1'
  '\uAAEB-\uAAEF\uAAF5\uAAF6\uABE3-\uABEA\uABEC\uABED\uFB1E\uFE00-\uFE0F\uFE20-\uFE2F'
  '\U000101FD\U000102E0\U00010376-\U0001037A\U00010A01-\U00010A03\U00010A05\U00010A06'
  '\U00010A0C-\U00010A0F\U00010A38-\U00010A3A\U00010A3F\U00010AE5\U00010AE6'
  '\U00010D24-\U00010D27\U00010EAB\U00010EAC\U00010F46-\U00010F50\U00010F82-\U00010F85'
  '\U00011000-\U00011002\U00011038-\U00011046\U00011070\U00011073\U00011074'
  '\U0001107F-\U00011082\U000110B0-\U000110BA\U000110C2\U00011100-\U00011102'
  '\U00011127-\U00011134\U00011145\U00011146\U00011173\U00011180-\U00011182'
  '\U000111B3-\U000111C0\U000111C9-\U000111CC\U000111CE\U000111CF\U0001122C-\U00011237'
  '\U0001123E\U000112DF-\U000112EA\U00011300-\U00011303\U0001133B\U0001133C'
  '\U0001133E-\U00011344\U00011347\U00011348\U0001134B-\U0001134D\U00011357'
  '\U00011362\U00011363\U00011366-\U0001136C\U00011370-\U00011374\U00011435-\U00011446'
  '\U0001145E\U000114B0-\U000114C3\U000115AF-\U000115B5\U000115B8-\U000115C0'
  '\U000115DC\U000115DD\U00011630-\U00011640\U000116AB-\U000116B7\U0001171D-\U0001172B'
  '\U0001182C-\U0001183A\U00011930-\U00011935\U00011937\U00011938\U0001193B-\U0001193E'
  '\U00011940\U00011942\U00011943\U000119D1-\U000119D7\U000119DA-\U000119E0\U000119E4'
  '\U00011A01-\U00011A0A\U00011A33-\U00011A39\U00011A3B-\U00011A3E\U00011A47'
  '\U00011A51-\U00011A5B\U00011A8A-\U00011A99\U00011C2F-\U00011C36\U00011C38-\U00011C3F'
  '\U00011C92-\U00011CA7\U00011CA9-\U00011CB6\U00011D31-\U00011D36\U00011D3A'
  '\U00011D3C\U00011D3D\U00011D3F-\U00011D45\U00011D47\U00011D8A-\U00011D8E'
  '\U00011D90\U00011D91\U00011D93-\U00011D97\U00011EF3-\U00011EF6\U00016AF0-\U00016AF4'
  '\U00016B30-\U00016B36\U00016F4F\U00016F51-\U00016F87\U00016F8F-\U00016F92\U00016FE4'
  '\U00016FF0\U00016FF1\U0001BC9D\U0001BC9E\U0001CF00-\U0001CF2D\U0001CF30-\U0001CF46'
  '\U0001D165-\U0001D169\U0001D16D-\U0001D172\U0001D17B-\U0001D182\U0001D185-\U0001D18B'
  '\U0001D1AA-\U0001D1AD\U0001D242-\U0001D244\U0001DA00-\U0001DA36\U0001DA3B-\U0001DA6C'
  '\U0001DA75\U0001DA84\U0001DA9B-\U0001DA9F\U0001DAA1-\U0001DAAF\U0001E000-\U0001E006'
  '\U0001E008-\U0001E018\U0001E01B-\U0001E021\U0001E023\U0001E024\U0001E026-\U0001E02A'
  '\U0001E130-\U0001E136\U0001E2AE\U0001E2EC-\U0001E2EF\U0001E8D0-\U0001E8D6'
  '\U0001E944-\U0001E94A\U000E0100-\U000E01EF]',
  '', 'g')) = '';

comment on function app.shows_nothing(text) is
  'Whether the name is made of blanks and marks (Unicode Mn, Mc, Me: combining accents, vowel signs, variation selectors) alone.';

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
