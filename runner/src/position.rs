//! Lines and columns in the user's text, counted one way for every reader
//! and every output: 1-based, columns in characters, a byte order mark at
//! the start of a file or of one of its documents not counted.

use std::collections::HashMap;

use libyaml_safer::Mark;

pub const BOM: char = '\u{feff}';

/// A place in a text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// Where libyaml's (0-based) mark is.
    pub fn of_mark(mark: Mark) -> Position {
        Position {
            line: one_based(mark.line),
            column: one_based(mark.column),
        }
    }

    /// This position, found in a piece of a larger text, in that text:
    /// `start` is where the piece starts in it.
    pub fn within(self, start: Position) -> Position {
        Position {
            line: start.line + self.line - 1,
            column: if self.line == 1 {
                start.column + self.column - 1
            } else {
                self.column
            },
        }
    }
}

fn one_based(zero_based: u64) -> usize {
    usize::try_from(zero_based).unwrap_or(usize::MAX).saturating_add(1)
}

/// Where each node of a document is written, by JSON pointer (RFC 6901,
/// into the JSON value of the document): the key of a mapping's value, the
/// node itself for a sequence's item or the root. A node reached only
/// through an alias or a merge key has no place of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions(HashMap<String, Position>);

impl Positions {
    /// Records where the node at `pointer` is written, unless a node
    /// written earlier in the text already has that pointer.
    pub fn record(&mut self, pointer: String, position: Position) {
        self.0.entry(pointer).or_insert(position);
    }

    pub fn get(&self, pointer: &str) -> Option<Position> {
        self.0.get(pointer).copied()
    }

    /// Where the node at `pointer` is written, or else its nearest ancestor
    /// that is.
    pub fn nearest(&self, mut pointer: &str) -> Option<Position> {
        loop {
            if let Some(at) = self.get(pointer) {
                return Some(at);
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }

    /// These positions, found in a piece of a larger text that starts at
    /// `start`, in that text.
    pub fn within(mut self, start: Position) -> Positions {
        for at in self.0.values_mut() {
            *at = at.within(start);
        }
        self
    }
}

/// The byte offset in `text` of libyaml's mark, which counts bytes after a
/// leading byte order mark.
pub fn offset_of_mark(text: &str, mark: Mark) -> usize {
    let skip = if text.starts_with(BOM) { BOM.len_utf8() } else { 0 };
    usize::try_from(mark.index).map_or(text.len(), |i| i + skip)
}

/// Where the character at byte `offset` of `text` is, every character
/// counted (as libyaml counts those after the start).
pub fn position_of_offset(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    Position {
        line: 1 + before.matches('\n').count(),
        column: 1 + before.get(line_start..).unwrap_or_default().chars().count(),
    }
}

/// The line of the first non-blank character at or after byte `offset`.
pub fn line_of_next_non_blank(text: &str, offset: usize) -> usize {
    let rest = text.get(offset..).unwrap_or_default();
    let skipped = rest.len() - rest.trim_start().len();
    position_of_offset(text, offset + skipped).line
}

/// Just after the last character of `text` that is not blank.
pub fn end_of_content(text: &str) -> Position {
    position_of_offset(text, text.trim_end().len())
}

/// Positions of byte offsets of one text, asked in increasing order (else
/// counted again from the start), byte order marks not counted in columns.
pub struct LineCounter<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'t> LineCounter<'t> {
    pub fn new(text: &'t str) -> LineCounter<'t> {
        LineCounter {
            text,
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    pub fn at(&mut self, offset: usize) -> Position {
        if offset < self.offset {
            (self.offset, self.line, self.line_start) = (0, 1, 0);
        }
        let skipped = self.text.get(self.offset..offset).unwrap_or_default();
        for (at, _) in skipped.match_indices('\n') {
            self.line += 1;
            self.line_start = self.offset + at + 1;
        }
        self.offset = offset;
        let before = self.text.get(self.line_start..offset).unwrap_or_default();
        Position {
            line: self.line,
            column: 1 + before.chars().filter(|&c| c != BOM).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_placed_in_characters() {
        let text = "ab\néx\n\n  y";
        assert_eq!(position_of_offset(text, 0), Position { line: 1, column: 1 });
        assert_eq!(position_of_offset(text, 5), Position { line: 2, column: 2 });
        assert_eq!(line_of_next_non_blank(text, 6), 4);
        let mut lines = LineCounter::new("\u{feff}a\nbc");
        assert_eq!(lines.at(4), Position { line: 1, column: 2 });
        assert_eq!(lines.at(6), Position { line: 2, column: 2 });
        assert_eq!(lines.at(3), Position { line: 1, column: 1 });
        assert_eq!(end_of_content("a: [\n  1,\n\n"), Position { line: 2, column: 5 });
        let inner = Position { line: 1, column: 3 };
        assert_eq!(
            inner.within(Position { line: 4, column: 5 }),
            Position { line: 4, column: 7 }
        );
        let below = Position { line: 2, column: 3 };
        assert_eq!(
            below.within(Position { line: 4, column: 5 }),
            Position { line: 5, column: 3 }
        );
    }
}
