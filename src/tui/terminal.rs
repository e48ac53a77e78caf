//! Terminal setup and teardown in one place. Whatever ends the workbench — quitting, an error,
//! a panic, SIGTERM, SIGHUP or SIGINT — the terminal gets raw mode off, the main screen back, mouse
//! capture and bracketed paste off, and the cursor shown.

use std::io::{Stdout, stdout};
use std::sync::Once;

use crossterm::cursor::Show;
use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::TuiError;

/// Puts the terminal back. Safe to call more than once and from a panic hook; errors are
/// ignored because there is nothing better to do with them at that point.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), DisableBracketedPaste, DisableMouseCapture, LeaveAlternateScreen, Show);
}

/// Restores the terminal before the default hook prints the panic, so the message lands on
/// the normal screen where it can be read.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Owns the terminal while the workbench runs; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    pub fn enter() -> Result<TerminalGuard, TuiError> {
        install_panic_hook();
        let setup = || -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            execute!(stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste)?;
            // Cleared with the escape rather than `Terminal::clear`, which asks the terminal for
            // the cursor's position: when a workbench follows another in the same process
            // (the fleet's Enter, a detach back to the fleet), the first one's input reader
            // may still be waiting on stdin and take the answer, failing the second start.
            execute!(stdout(), Clear(ClearType::All))?;
            Terminal::new(CrosstermBackend::new(stdout()))
        };
        match setup() {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(TuiError::Io(e))
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
