;;; case.el --- one metaai-ls scenario in a real Emacs with eglot  -*- lexical-binding: t -*-
;; emacs --batch -Q -l case.el FILE RESULT SERVER-PYTHON URL COOKIES
(dolist (dir (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*"))
  (add-to-list 'load-path dir))
(require 'eglot)
(require 'json)

(let* ((args command-line-args-left)
       (file (nth 0 args))
       (result (nth 1 args))
       (python (nth 2 args))
       (url (nth 3 args))
       (cookies (nth 4 args))
       (messages '()))
  (setq command-line-args-left nil)
  (setq eglot-confirm-server-initiated-edits nil)  ; one answer is many edits
  (setq eglot-send-changes-idle-time 0.05)
  (advice-add 'eglot--message :before (lambda (format &rest args) (push (apply #'format format args) messages)))
  (add-to-list 'eglot-server-programs
               `(python-mode . (,python "-m" "metaai_ls" "--stdio"
                                :initializationOptions
                                (:metaai (:url ,url :graphUrl ,url :cookiesFile ,cookies)))))
  (find-file file)
  (python-mode)
  (apply #'eglot (eglot--guess-contact))
  (with-timeout (30 (error "eglot did not connect"))
    (while (not (eglot-current-server)) (accept-process-output nil 0.05)))
  (let* ((server (eglot-current-server))
         (beg (save-excursion (goto-char (point-min)) (forward-line 1) (point)))
         (end (save-excursion (goto-char (point-min)) (forward-line 3) (point)))
         (actions (eglot-code-actions beg end "refactor.rewrite.metaai"))
         (action (elt actions 0))
         (command (plist-get action :command)))
    (eglot-execute-command server (plist-get command :command) (plist-get command :arguments))
    ;; Let the last didChange go out before reading the buffer.
    (with-timeout (5 nil) (while t (accept-process-output nil 0.1)))
    (with-temp-file result
      (insert (json-encode
               `((title . ,(plist-get action :title))
                 (text . ,(with-current-buffer (find-buffer-visiting file)
                            (buffer-substring-no-properties (point-min) (point-max))))
                 (messages . ,(vconcat messages))
                 (stderr . ,(mapconcat
                             (lambda (b) (with-current-buffer b (buffer-string)))
                             (seq-filter (lambda (b) (string-match-p "stderr\\*\\'" (buffer-name b)))
                                         (buffer-list))
                             "\n"))))))
    (kill-emacs 0)))
