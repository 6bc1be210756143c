//! The generated regions of `ns_lanes.wgsl`: its loops unrolled for one `rows × rows` tile, so
//! that every accumulator is a register. Each of the 8 invocations owns `rows` rows and
//! `rows / 8` columns of C, as `rows / 32` vec4 chunks at columns `4·(chunks·lane + q)`.

/// `ns_lanes.wgsl` with its generated regions unrolled for a `rows × rows` tile (see the module
/// doc). `half`: L and R are read from their f16 mirrors (two values per `u32`, eight k per
/// load; needs `rows` a multiple of 64) and every store also writes C's mirror; the arithmetic
/// stays f32.
pub fn lanes_source(rows: u32, broadcast: bool, half: bool) -> String {
    assert!(rows.is_multiple_of(32), "lanes tiles are multiples of 32");
    assert!(
        !half || rows.is_multiple_of(64),
        "f16 lanes tiles are multiples of 64"
    );
    let tile = Tile::new(rows as usize, broadcast, half);
    let mut source = crate::shaders::source("ns_lanes.wgsl");
    for (name, text) in [
        ("bindings", tile.bindings()),
        ("put", tile.put()),
        ("setup", tile.setup()),
        ("body", tile.body()),
        ("epilogue", tile.epilogue()),
    ] {
        source = replace_region(&source, name, &text);
    }
    source
}

/// The vector lanes of a `vec4`, by component.
const LANE: [&str; 4] = ["x", "y", "z", "w"];

/// One tile's unrolling.
struct Tile {
    rows: usize,
    /// vec4 chunks of C per invocation and row.
    chunks: usize,
    /// k per loop step.
    step: usize,
    /// Elements per load of L or R.
    unit: usize,
    broadcast: bool,
    half: bool,
    /// Rows of L each invocation loads: row `i` by lane `i % 8` as its load `i / 8`
    /// (broadcast), or every row by every lane.
    loads: usize,
    /// Loads of a non-symmetric R row: one covers `unit / 4` chunks.
    groups: usize,
}

/// Appends `text` at `indent` spaces, and a newline.
fn line(s: &mut String, indent: usize, text: &str) {
    s.push_str(&" ".repeat(indent));
    s.push_str(text);
    s.push('\n');
}

/// `let name = load;` and `name_0`, `name_1`: the eight f32 of a packed `vec4<u32>` load.
fn unpack(s: &mut String, indent: usize, name: &str, load: &str) {
    line(s, indent, &format!("let {name} = {load};"));
    line(
        s,
        indent,
        &format!("let {name}_0 = vec4(unpack2x16float({name}.x), unpack2x16float({name}.y));"),
    );
    line(
        s,
        indent,
        &format!("let {name}_1 = vec4(unpack2x16float({name}.z), unpack2x16float({name}.w));"),
    );
}

impl Tile {
    fn new(rows: usize, broadcast: bool, half: bool) -> Self {
        let chunks = rows / 32;
        let (step, unit) = if half { (8, 8) } else { (4, 4) };
        Self {
            rows,
            chunks,
            step,
            unit,
            broadcast,
            half,
            loads: if broadcast { rows.div_ceil(8) } else { rows },
            groups: chunks * 4 / unit,
        }
    }

    /// The first column of chunk `q` of this invocation.
    fn column(&self, q: usize) -> String {
        format!("col0 + {}u * lane + {}u", 4 * self.chunks, 4 * q)
    }

    /// The L and R bindings (f32, or packed f16) and C's f16 mirror.
    fn bindings(&self) -> String {
        let mut s = String::new();
        let operand = if self.half { "vec4<u32>" } else { "vec4<f32>" };
        line(
            &mut s,
            0,
            &format!("@group(0) @binding(1) var<storage, read> left: array<{operand}>;"),
        );
        line(
            &mut s,
            0,
            &format!("@group(0) @binding(2) var<storage, read> right: array<{operand}>;"),
        );
        if self.half {
            line(
                &mut s,
                0,
                "@group(0) @binding(5) var<storage, read_write> result_half: array<vec2<u32>>;",
            );
        }
        s
    }

    /// The store of one vec4 of C (and of its f16 mirror).
    fn put(&self) -> String {
        let mut s = String::new();
        line(&mut s, 4, "result[at] = v;");
        if self.half {
            line(
                &mut s,
                4,
                "result_half[at] = vec2(pack2x16float(v.xy), pack2x16float(v.zw));",
            );
        }
        s
    }

    /// The accumulators and the first load index of every row of L and column of R.
    fn setup(&self) -> String {
        let (step, unit) = (self.step, self.unit);
        let mut s = String::new();
        line(&mut s, 4, &format!("let steps = p.k / {step}u;"));
        line(&mut s, 4, &format!("let r_step = p.r_row / {unit}u;"));
        for i in 0..self.rows {
            for q in 0..self.chunks {
                line(&mut s, 4, &format!("var c{i}_{q} = vec4<f32>();"));
            }
        }
        for r in 0..self.loads {
            let row = if self.broadcast {
                format!("row0 + {}u + lane", 8 * r)
            } else {
                format!("row0 + {r}u")
            };
            line(
                &mut s,
                4,
                &format!("let pa{r} = (lbase + ({row}) * p.l_row) / {unit}u;"),
            );
        }
        for q in 0..self.chunks {
            for c in 0..4 {
                line(
                    &mut s,
                    4,
                    &format!(
                        "let pb{q}_{c} = (rbase + ({} + {c}u) * p.r_row) / {unit}u;",
                        self.column(q)
                    ),
                );
            }
        }
        for g in 0..self.groups {
            line(
                &mut s,
                4,
                &format!(
                    "let pn{g} = (rbase + {}) / {unit}u;",
                    self.column(g * unit / 4)
                ),
            );
        }
        s
    }

    /// One step of the k loop: load L's rows and R's columns, then the fmas.
    fn body(&self) -> String {
        let mut s = String::new();
        self.load_left(&mut s);
        self.load_right(&mut s);
        self.multiply(&mut s);
        s
    }

    /// `a{r}_0` (and `a{r}_1` for f16): this step's k of L's rows.
    fn load_left(&self, s: &mut String) {
        for r in 0..self.loads {
            if self.half {
                unpack(s, 8, &format!("a{r}"), &format!("left[pa{r} + k]"));
            } else {
                line(s, 8, &format!("let a{r}_0 = left[pa{r} + k];"));
            }
        }
    }

    /// `b{q}_{kk}`: chunk `q` of R's row `kk` of this step; a symmetric product reads R stored
    /// like L (rows along k) and transposes 4 × 4 blocks.
    fn load_right(&self, s: &mut String) {
        let step = self.step;
        for q in 0..self.chunks {
            for kk in 0..step {
                line(s, 8, &format!("var b{q}_{kk}: vec4<f32>;"));
            }
        }
        line(s, 8, "if SYMMETRIC {");
        for q in 0..self.chunks {
            for c in 0..4 {
                let load = format!("right[pb{q}_{c} + k]");
                if self.half {
                    unpack(s, 12, &format!("r{q}_{c}"), &load);
                } else {
                    line(s, 12, &format!("let r{q}_{c}_0 = {load};"));
                }
            }
            for kk in 0..step {
                let (h, comp) = (kk / 4, LANE[kk % 4]);
                line(
                    s,
                    12,
                    &format!(
                        "b{q}_{kk} = vec4(r{q}_0_{h}.{comp}, r{q}_1_{h}.{comp}, r{q}_2_{h}.{comp}, r{q}_3_{h}.{comp});"
                    ),
                );
            }
        }
        line(s, 8, "} else {");
        for kk in 0..step {
            for g in 0..self.groups {
                let load = format!("right[pn{g} + ({step}u * k + {kk}u) * r_step]");
                if self.half {
                    unpack(s, 12, &format!("s{g}_{kk}"), &load);
                    line(s, 12, &format!("b{}_{kk} = s{g}_{kk}_0;", 2 * g));
                    line(s, 12, &format!("b{}_{kk} = s{g}_{kk}_1;", 2 * g + 1));
                } else {
                    line(s, 12, &format!("b{g}_{kk} = {load};"));
                }
            }
        }
        line(s, 8, "}");
    }

    /// Row by row: the k of the step, then each accumulator's fmas back to back.
    fn multiply(&self, s: &mut String) {
        for i in 0..self.rows {
            line(s, 8, "{");
            for kk in 0..self.step {
                let (h, comp) = (kk / 4, LANE[kk % 4]);
                let value = if self.broadcast {
                    format!("subgroupBroadcast(a{}_{h}.{comp}, {}u)", i / 8, i % 8)
                } else {
                    format!("a{i}_{h}.{comp}")
                };
                line(s, 12, &format!("let v{kk} = vec4({value});"));
            }
            for q in 0..self.chunks {
                let mut chain = format!("c{i}_{q}");
                for kk in 0..self.step {
                    chain = format!("fma(v{kk}, b{q}_{kk}, {chain})");
                }
                line(s, 12, &format!("c{i}_{q} = {chain};"));
            }
            line(s, 8, "}");
        }
    }

    /// The stores of the accumulators, four rows at a time (mirrored for symmetric products).
    fn epilogue(&self) -> String {
        let mut s = String::new();
        for i in (0..self.rows).step_by(4) {
            for q in 0..self.chunks {
                line(
                    &mut s,
                    4,
                    &format!(
                        "store4(p, cbase, dbase, row0 + {i}u, {}, c{i}_{q}, c{}_{q}, c{}_{q}, c{}_{q}, tile.mirror);",
                        self.column(q),
                        i + 1,
                        i + 2,
                        i + 3
                    ),
                );
            }
        }
        s
    }
}

/// Replaces the lines between `// generate <name>` and the next `// end` with `text`.
fn replace_region(source: &str, name: &str, text: &str) -> String {
    let marker = format!("// generate {name}\n");
    let start = source
        .find(&marker)
        .unwrap_or_else(|| panic!("ns_lanes.wgsl lacks region {name}"))
        + marker.len();
    let end = start
        + source[start..]
            .find("// end\n")
            .unwrap_or_else(|| panic!("ns_lanes.wgsl region {name} is not closed"));
    // Keep the indentation of the `// end` line.
    let end = source[..end].rfind('\n').map_or(end, |i| i + 1);
    format!("{}{}{}", &source[..start], text, &source[end..])
}
