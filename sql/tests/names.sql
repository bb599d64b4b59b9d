/*
 * Names shown to other people, display names and organization names, refuse bidi controls and
 * invisible characters (app.has_invisible_characters): every code point of every range, in
 * both validators, and through the API; letters of every script, emoji and variation
 * selectors stay allowed, and the zero-width joiners where they join (emoji, conjuncts, Persian).
 */
begin;
select plan(86);

create function pg_temp.code_point(p_char integer) returns text
language sql
return 'U+' || upper(lpad(to_hex(p_char), greatest(4, length(to_hex(p_char))), '0'));

/* The code points of a range that one of the two validators lets through, in the middle of a name. */
create function pg_temp.let_through(p_first integer, p_last integer) returns setof text
language sql
as $$
  select pg_catalog.to_hex(c) from generate_series(p_first, p_last) c
   where tap.outcome(format('select auth.valid_display_name(%L)', 'Ac' || chr(c) || 'me'))
           <> '422 auth.invalid_display_name'
      or tap.outcome(format('select app.valid_org_name(%L)', 'Ac' || chr(c) || 'me'))
           <> '422 org.invalid_name'
$$;

select is_empty(format('select pg_temp.let_through(%s, %s)', first, last),
  format('refused in display and organization names: %s (%s)', what,
         concat_ws(' to ', pg_temp.code_point(first), nullif(pg_temp.code_point(last), pg_temp.code_point(first)))))
  from (values
    ('the Arabic letter mark', x'061C'::int, x'061C'::int),
    ('the left-to-right and right-to-left marks', x'200E'::int, x'200F'::int),
    ('the bidi embeddings, pop and overrides', x'202A'::int, x'202E'::int),
    ('the bidi isolates', x'2066'::int, x'2069'::int),
    ('the soft hyphen', x'00AD'::int, x'00AD'::int),
    ('the Mongolian vowel separator', x'180E'::int, x'180E'::int),
    ('the zero-width space, non-joiner and joiner', x'200B'::int, x'200D'::int),
    ('the word joiner and the invisible operators', x'2060'::int, x'2064'::int),
    ('the zero-width no-break space (BOM)', x'FEFF'::int, x'FEFF'::int),
    ('the reserved U+2065 and the deprecated format characters', x'2065'::int, x'206F'::int),
    ('the Arabic number signs', x'0600'::int, x'0605'::int),
    ('the Arabic end of ayah', x'06DD'::int, x'06DD'::int),
    ('the Syriac abbreviation mark', x'070F'::int, x'070F'::int),
    ('the Arabic pound and piastre marks above', x'0890'::int, x'0891'::int),
    ('the Arabic disputed end of ayah', x'08E2'::int, x'08E2'::int),
    ('the reserved specials and interlinear annotation', x'FFF0'::int, x'FFFB'::int),
    ('the Kaithi number sign', x'110BD'::int, x'110BD'::int),
    ('the Kaithi number sign above', x'110CD'::int, x'110CD'::int),
    ('the Egyptian hieroglyph format controls', x'13430'::int, x'1343F'::int),
    ('the shorthand format controls', x'1BCA0'::int, x'1BCA3'::int),
    ('the musical symbol format controls', x'1D173'::int, x'1D17A'::int),
    ('the language tag and the tag characters', x'E0000'::int, x'E00FF'::int),
    ('the reserved default-ignorables after the variation selectors', x'E01F0'::int, x'E0FFF'::int),
    ('the combining grapheme joiner', x'034F'::int, x'034F'::int),
    ('the Hangul choseong and jungseong fillers', x'115F'::int, x'1160'::int),
    ('the Hangul filler', x'3164'::int, x'3164'::int),
    ('the halfwidth Hangul filler', x'FFA0'::int, x'FFA0'::int),
    ('the Khmer inherent vowels', x'17B4'::int, x'17B5'::int),
    ('the line and paragraph separators', x'2028'::int, x'2029'::int),
    ('the noncharacters of the Arabic presentation forms', x'FDD0'::int, x'FDEF'::int),
    ('the noncharacters at the end of the basic plane', x'FFFE'::int, x'FFFF'::int),
    ('the noncharacters at the end of plane 1', x'1FFFE'::int, x'1FFFF'::int),
    ('the noncharacters at the end of plane 16', x'10FFFE'::int, x'10FFFF'::int),
    ('the start of the private use area', x'E000'::int, x'E03F'::int),
    ('the end of the private use area', x'F8C0'::int, x'F8FF'::int),
    ('the start of the supplementary private use areas', x'F0000'::int, x'F003F'::int),
    ('the end of the supplementary private use areas', x'10FFC0'::int, x'10FFFD'::int)
  ) as ranges (what, first, last);

/* A name of nothing that shows: spaces of any kind, the braille blank, variation selectors or
   marks of any script alone (tests/test_names.py tries every mark). Unicode spaces around a name are trimmed like ASCII ones. */
select is(tap.outcome(format('select auth.valid_display_name(%L)', n)), '422 auth.invalid_display_name',
  format('a display name of %s alone is refused', what))
  from (values
    ('no-break spaces', chr(x'00A0'::int) || chr(x'00A0'::int)),
    ('ideographic and figure spaces', chr(x'3000'::int) || chr(x'2007'::int)),
    ('braille blanks', chr(x'2800'::int) || chr(x'2800'::int)),
    ('variation selectors', chr(x'FE0F'::int) || chr(x'E0100'::int)),
    ('combining marks', chr(x'0301'::int) || chr(x'0308'::int) || chr(x'20DD'::int)),
    ('Hebrew accents and points', chr(x'0591'::int) || chr(x'05B0'::int)),
    ('Arabic harakat', chr(x'064B'::int) || chr(x'0650'::int)),
    ('Thai and Devanagari vowel signs', chr(x'0E31'::int) || chr(x'0901'::int) || chr(x'093E'::int))
  ) as names (what, n);
select is(tap.outcome(format('select app.valid_org_name(%L)', chr(x'2800'::int) || ' ' || chr(x'3000'::int))),
  '422 org.invalid_name', 'an organization name of blanks alone is refused');
select is(auth.valid_display_name(chr(x'00A0'::int) || 'Zoë' || chr(x'3000'::int)), 'Zoë',
  'no-break and ideographic spaces around a name are trimmed');

/* What stays allowed: letters of any script and direction, emoji with their variation
   selector, the neighbours of the refused ranges. */
select is(tap.outcome(format('select auth.valid_display_name(%L), app.valid_org_name(%L)', n, n)), 'ok',
  format('valid in a name: %s', what))
  from (values
    ('Hebrew and Arabic letters', 'שלום مرحبا'),
    ('accented and CJK letters', 'Zoë Ørsted 東京'),
    ('an emoji with its variation selector U+FE0F', 'I ' || chr(x'2764'::int) || chr(x'FE0F'::int) || ' tea'),
    ('a Mongolian free variation selector and a supplementary one', 'a' || chr(x'180B'::int) || 'b' || chr(x'E0100'::int)),
    ('the neighbours U+00AC, U+00AE, U+2010, U+2070 and U+FFFC',
     chr(x'00AC'::int) || chr(x'00AE'::int) || chr(x'2010'::int) || chr(x'2070'::int) || chr(x'FFFC'::int)),
    ('the neighbours U+2027, U+F900, U+FDCF, U+FDF0 and U+FFFD',
     chr(x'2027'::int) || chr(x'F900'::int) || chr(x'FDCF'::int) || chr(x'FDF0'::int) || chr(x'FFFD'::int)),
    ('a letter with combining marks', 'Zo' || chr(x'0065'::int) || chr(x'0308'::int) || chr(x'0301'::int)),
    ('an emoji of two joined by U+200D (technologist)', chr(x'1F469'::int) || chr(x'200D'::int) || chr(x'1F4BB'::int) || ' Ann'),
    ('an emoji of a variation selector and U+200D (rainbow flag)',
     chr(x'1F3F3'::int) || chr(x'FE0F'::int) || chr(x'200D'::int) || chr(x'1F308'::int) || ' Pride'),
    ('a family of four emoji joined by U+200D, one with a skin tone',
     chr(x'1F468'::int) || chr(x'1F3FD'::int) || chr(x'200D'::int) || chr(x'1F469'::int) || chr(x'200D'::int)
       || chr(x'1F467'::int) || chr(x'200D'::int) || chr(x'1F466'::int) || ' Kim'),
    ('a Persian name with U+200C between two letters',
     chr(x'0639'::int) || chr(x'0644'::int) || chr(x'06CC'::int) || chr(x'200C'::int) || chr(x'0627'::int)
       || chr(x'06A9'::int) || chr(x'0628'::int) || chr(x'0631'::int)),
    ('a Devanagari conjunct with U+200D after the virama',
     chr(x'0915'::int) || chr(x'094D'::int) || chr(x'200D'::int) || chr(x'0937'::int)),
    ('a Malayalam name with U+200C after the virama',
     chr(x'0D28'::int) || chr(x'0D4D'::int) || chr(x'200C'::int) || chr(x'0D28'::int))
  ) as names (what, n);

/* Where they join nothing, the joiners hide in a name as a zero-width space does. */
select is(app.name_fault(n), 'hidden', format('a joiner that joins nothing is refused: %s', what))
  from (values
    ('U+200D between two Latin letters', 'Ac' || chr(x'200D'::int) || 'me'),
    ('U+200C between two Latin letters', 'Ac' || chr(x'200C'::int) || 'me'),
    ('U+200D after an emoji, before a letter', chr(x'1F469'::int) || chr(x'200D'::int) || 'Ann'),
    ('U+200D before an emoji, after a letter', 'Ann' || chr(x'200D'::int) || chr(x'1F4BB'::int)),
    ('U+200D after a variation selector that follows a letter', 'a' || chr(x'FE0F'::int) || chr(x'200D'::int) || chr(x'1F4BB'::int)),
    ('U+200C after an Arabic letter, before a Latin one', chr(x'0639'::int) || chr(x'200C'::int) || 'a'),
    ('U+200C at the end, after an Arabic letter', chr(x'0639'::int) || chr(x'0644'::int) || chr(x'200C'::int)),
    ('U+200C after an alef, which joins nothing after it (looks as without)',
     chr(x'0627'::int) || chr(x'200C'::int) || chr(x'0628'::int) || chr(x'0627'::int)),
    ('U+200C after a dal, which joins nothing after it', chr(x'0628'::int) || chr(x'062F'::int) || chr(x'200C'::int) || chr(x'0631'::int)),
    ('U+200C before a hamza, which joins nothing', chr(x'0628'::int) || chr(x'200C'::int) || chr(x'0621'::int)),
    ('U+200C between two Persian digits', chr(x'06F1'::int) || chr(x'200C'::int) || chr(x'06F2'::int)),
    ('two U+200D between two emoji', chr(x'1F469'::int) || chr(x'200D'::int) || chr(x'200D'::int) || chr(x'1F4BB'::int)),
    ('U+200B between two emoji', chr(x'1F469'::int) || chr(x'200B'::int) || chr(x'1F4BB'::int))
  ) as cases (what, n);

/* The one rule both validators apply (app.name_fault), case by case. */
select is(app.name_fault(n), fault, format('app.name_fault of %s: %s', what, coalesce(fault, 'none')))
  from (values
    ('a plain name', 'Acme', null),
    ('no name', null, 'shape'),
    ('an empty name', '', 'shape'),
    ('101 characters', repeat('a', 101), 'shape'),
    ('100 characters', repeat('é', 100), null),
    ('a tab', 'Ac' || chr(9) || 'me', 'shape'),
    ('combining marks alone', chr(x'0301'::int) || chr(x'0308'::int), 'shape'),
    ('a zero-width space', 'Ac' || chr(x'200B'::int) || 'me', 'hidden'),
    ('a right-to-left override', 'Acme' || chr(x'202E'::int) || 'gnp.exe', 'hidden')
  ) as cases (what, n, fault);

/* Through the API: the stable codes, and a message that says why. */
select tap.make_users(array['namer']);
select tap.become('namer');
select is(tap.outcome(format('select api.create_organization(%L)', 'Acme' || chr(x'202E'::int) || 'gnp.exe')),
  '422 org.invalid_name', 'create_organization refuses a name with a right-to-left override');
select throws_ok(format('select api.update_profile(%L)', 'Ad' || chr(x'200B'::int) || 'min'), 'PGRST',
  '{"code" : "auth.invalid_display_name", "message" : "The display name cannot hold bidi controls or invisible characters (such as zero-width spaces).", "details" : null, "hint" : null}',
  'update_profile refuses a display name with a zero-width space, and says so');
select is(tap.outcome($$ select tap.fix('acme', (api.create_organization('Acme')).id) $$), 'ok',
  'a plain name is fine');
select throws_ok(format('select api.update_organization(%L, %L)', tap.id('acme'), chr(x'2066'::int) || 'Acme'), 'PGRST',
  '{"code" : "org.invalid_name", "message" : "An organization''s name cannot hold bidi controls or invisible characters (such as zero-width spaces).", "details" : null, "hint" : null}',
  'update_organization refuses a name with a bidi isolate, and says so');
reset role;

select * from finish();
rollback;
