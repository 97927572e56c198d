/**
 * Dark mode: the system's preference (prefers-color-scheme) until the user presses the toggle;
 * the choice is then kept in localStorage and set as data-theme on <html>, which the stylesheet
 * honours over the media query.
 */
const KEY = "vsm-dashboard-theme";

function stored(): "light" | "dark" | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : null;
  } catch {
    return null;
  }
}

function systemDark(): boolean {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
}

export function isDark(): boolean {
  const s = document.documentElement.dataset.theme;
  return s === "dark" || (s !== "light" && systemDark());
}

export function setupTheme(button: HTMLButtonElement, onChange: () => void): void {
  const s = stored();
  if (s) document.documentElement.dataset.theme = s;
  const sync = () => {
    const dark = isDark();
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.textContent = dark ? "☀ Light mode" : "☾ Dark mode";
  };
  sync();
  button.addEventListener("click", () => {
    const next = isDark() ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // storage disabled: the choice lasts as long as the page
    }
    sync();
    onChange();
  });
  window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener("change", () => {
    sync();
    onChange();
  });
}
