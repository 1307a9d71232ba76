//! The operation vocabularies of the spaces, each a small closed enum with
//! the names the papers and reference code use.

/// Declares an operation enum: variants, their canonical names (used in text,
/// JSON and error messages), `ALL` in index order, and parsing that names the
/// accepted values when it fails.
macro_rules! op_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every operation, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical name, as in the papers' reference code.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Position in [`Self::ALL`]; the token id in encodings.
            pub fn index(self) -> usize {
                Self::ALL.iter().position(|&o| o == self).expect("every variant is in ALL")
            }

            /// The operation at `index` in [`Self::ALL`].
            pub fn from_index(index: usize) -> Option<Self> {
                Self::ALL.get(index).copied()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::SpaceError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|o| o.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|o| o.name()).collect();
                    $crate::SpaceError::new(
                        "op",
                        format!("unknown op {s:?}; expected one of {}", names.join(", ")),
                    )
                })
            }
        }
    };
}

pub(crate) use op_enum;
