//! Endurance: how a long run held up, step by step. The context window's fill with the
//! checkpoints and rollovers that kept it in bounds, the tests passing, the quality score, the
//! stall detector's counter, and where the supervisor had to step in; above them the endurance
//! figure, the longest run of steps nobody had to touch.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Sparkline};
use ratatui::Frame;

use super::{empty_state, RenderCtx};
use crate::config::keymap::{Action, KeyContext};
use crate::tui::panel::{Effects, Offer, PanelId, Placement};
use crate::tui::state::{StepSample, WorkbenchState};
use crate::tui::text::truncate;

/// Width of the label column left of each sparkline.
const LABEL: u16 = 14;

/// `endurance 37 of 52 steps`: the figure the panel and the finished status bar show.
pub fn figure(state: &WorkbenchState) -> String {
    format!("endurance {} of {} steps", state.endurance(), state.step())
}

/// The context fill of a sample in percent of `budget`.
fn fill_pct(s: &StepSample, budget: u64) -> f64 {
    if budget == 0 { 0.0 } else { (s.context_tokens as f64 / budget as f64 * 100.0).min(100.0) }
}

pub fn render(f: &mut Frame, area: Rect, ctx: &RenderCtx, budget: u64) {
    let th = ctx.theme;
    let st = ctx.state;
    if st.samples.is_empty() {
        empty_state(
            f,
            area,
            ctx,
            "The endurance charts fill in as steps run: context fill with checkpoints and rollovers, tests passing, quality, \
             the stall counter, and every supervisor intervention.",
        );
        return;
    }
    let w = usize::from(area.width);
    let [head, legend, chart, tests, quality, stall, marks] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);

    let n_int = st.core.interventions.len();
    let summary = format!(
        "{} · {n_int} intervention{} · cycle {}",
        figure(st),
        if n_int == 1 { "" } else { "s" },
        st.core.cycle
    );
    f.render_widget(Paragraph::new(Line::styled(truncate(&summary, w), th.style("endurance.figure"))), head);
    let legend_line = Line::from(vec![
        Span::styled("━ context %  ", th.style("endurance.context")),
        Span::styled("│ checkpoint  ", th.style("endurance.checkpoint")),
        Span::styled("↻ rollover  ", th.style("endurance.rollover")),
        Span::styled("▲ supervisor", th.style("endurance.intervention")),
    ]);
    f.render_widget(Paragraph::new(legend_line), legend);

    render_chart(f, chart, ctx, budget);

    // The sparklines and the marks row share one column per step, newest on the right, so a
    // mark sits under the step it belongs to.
    let spark_w = usize::from(area.width.saturating_sub(LABEL));
    let first = st.samples.len().saturating_sub(spark_w);
    let shown = &st.samples[first..];
    // Few steps are stretched over the width, each step `k` columns, so a short run reads as
    // a trend rather than a few bars in a corner.
    let k = (spark_w / shown.len().max(1)).max(1);
    let stretch = |v: Vec<u64>| -> Vec<u64> { v.into_iter().flat_map(|x| std::iter::repeat_n(x, k)).collect() };
    let last = st.samples.last();
    let tests_now = last.and_then(|s| s.tests_passed).map_or("—".to_string(), |t| t.to_string());
    let quality_now = last.and_then(|s| s.quality).map_or("—".to_string(), |q| format!("{q:.0}"));
    let threshold = st.stall_after();
    let stall_now = match threshold {
        Some(t) => format!("{}/{t}", st.core.calls_since_progress),
        None => st.core.calls_since_progress.to_string(),
    };
    let tests_data = stretch(shown.iter().map(|s| u64::from(s.tests_passed.unwrap_or(0))).collect());
    let quality_data = stretch(shown.iter().map(|s| s.quality.unwrap_or(0.0).round().clamp(0.0, 100.0) as u64).collect());
    let stall_data = stretch(shown.iter().map(|s| u64::from(s.stall)).collect());
    let stall_max = threshold.map(u64::from).unwrap_or_else(|| stall_data.iter().copied().max().unwrap_or(1)).max(1);
    spark_row(f, tests, ctx, &format!("tests {tests_now}"), &tests_data, None, "endurance.tests");
    spark_row(f, quality, ctx, &format!("quality {quality_now}"), &quality_data, Some(100), "endurance.quality");
    spark_row(f, stall, ctx, &format!("stall {stall_now}"), &stall_data, Some(stall_max), "endurance.stall");

    let [label, row] = Layout::horizontal([Constraint::Length(LABEL), Constraint::Min(0)]).areas(marks);
    f.render_widget(Paragraph::new(Line::styled("supervisor", th.style("ui.dim"))), label);
    let pad = " ".repeat(k - 1);
    let spans: Vec<Span> = shown
        .iter()
        .flat_map(|s| {
            let mark = if s.intervention {
                Span::styled("▲", th.style("endurance.intervention"))
            } else if s.rollover {
                Span::styled("↻", th.style("endurance.rollover"))
            } else if s.checkpoint {
                Span::styled("│", th.style("endurance.checkpoint"))
            } else {
                Span::styled("·", th.style("ui.dim"))
            };
            [mark, Span::raw(pad.clone())]
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(spans)), row);
}

fn spark_row(f: &mut Frame, area: Rect, ctx: &RenderCtx, label: &str, data: &[u64], max: Option<u64>, scope: &str) {
    if area.height == 0 {
        return;
    }
    let [l, r] = Layout::horizontal([Constraint::Length(LABEL), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(Line::styled(truncate(label, usize::from(LABEL) - 1), ctx.theme.style(scope))), l);
    let mut spark = Sparkline::default().data(data).style(ctx.theme.style(scope));
    if let Some(m) = max {
        spark = spark.max(m);
    }
    f.render_widget(spark, r);
}

/// The context fill as a line over steps, checkpoints and rollovers as vertical lines,
/// interventions as marks on the x axis.
fn render_chart(f: &mut Frame, area: Rect, ctx: &RenderCtx, budget: u64) {
    if area.height < 3 || area.width < 10 {
        return;
    }
    let th = ctx.theme;
    let samples = &ctx.state.samples;
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else { return };
    let x0 = first.step as f64;
    let x1 = (last.step as f64).max(x0 + 1.0);
    let fill: Vec<(f64, f64)> = samples.iter().map(|s| (s.step as f64, fill_pct(s, budget))).collect();
    let vertical = |pred: fn(&StepSample) -> bool| -> Vec<Vec<(f64, f64)>> {
        samples.iter().filter(|s| pred(s)).map(|s| vec![(s.step as f64, 0.0), (s.step as f64, 100.0)]).collect()
    };
    let checkpoints = vertical(|s| s.checkpoint);
    let rollovers = vertical(|s| s.rollover);
    let marks: Vec<(f64, f64)> = samples.iter().filter(|s| s.intervention).map(|s| (s.step as f64, 0.0)).collect();
    let mut datasets = Vec::new();
    for line in &checkpoints {
        datasets.push(Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(th.style("endurance.checkpoint")).data(line));
    }
    for line in &rollovers {
        datasets.push(Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(th.style("endurance.rollover")).data(line));
    }
    // Drawn last so the fill line stays on top of the marks it crosses.
    datasets.push(Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(th.style("endurance.context")).data(&fill));
    datasets.push(Dataset::default().marker(Marker::Block).graph_type(GraphType::Scatter).style(th.style("endurance.intervention")).data(&marks));
    let dim = th.style("ui.dim");
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .style(dim)
                .bounds([x0, x1])
                .labels(vec![Span::styled(format!("step {}", first.step), dim), Span::styled(last.step.to_string(), dim)]),
        )
        .y_axis(Axis::default().style(dim).bounds([0.0, 100.0]).labels(vec![Span::styled("0", dim), Span::styled("50", dim), Span::styled("100%", dim)]));
    f.render_widget(chart, area);
}

/// The panel: charts only, nothing to select or act on.
#[derive(Debug, Default)]
pub struct EndurancePanel;

impl crate::tui::panel::Panel for EndurancePanel {
    fn id(&self) -> PanelId {
        PanelId::Endurance
    }
    fn title(&self) -> &'static str {
        "Endurance"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Global
    }
    fn placement(&self) -> Placement {
        Placement::Wide
    }
    fn weight(&self) -> u16 {
        2
    }
    fn offers(&self, _cx: &RenderCtx) -> Vec<Offer> {
        Vec::new()
    }
    fn act(&mut self, _a: Action, _cx: &RenderCtx, _fx: &mut Effects) {}
    fn scroll(&mut self, _delta: isize, _cx: &RenderCtx) {}
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        render(f, area, cx, cx.context_budget)
    }
    crate::panel_any!();
}
