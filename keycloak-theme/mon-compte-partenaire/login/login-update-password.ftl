<#import "template.ftl" as layout>
<#import "password-commons.ftl" as passwordCommons>
<#import "field.ftl" as field>
<#import "buttons.ftl" as buttons>
<#import "password-validation.ftl" as validator>
<#-- Personal password (R16): the seed's sentence, the policy in words, then the seed's security text. -->
<@layout.registrationLayout displayMessage=!messagesPerField.existsError('password','password-confirm'); section>
    <#if section = "header">
        ${msg("updatePasswordTitle")}
    <#elseif section = "form">
        <p id="mcp-update-password-intro">${msg("mcpUpdatePasswordIntro")}</p>
        <#-- every rule at once, ticked as the user types (resources/js/mcp-password.js); Keycloak checks again -->
        <div id="mcp-password-policy">
        <p id="mcp-rules-title">${msg("mcpRulesTitle")}</p>
        <ul id="mcp-password-rules" aria-labelledby="mcp-rules-title" data-done="${msg('mcpRuleDone')}" data-todo="${msg('mcpRuleTodo')}">
            <#if passwordPolicies?? && passwordPolicies.length??><li data-rule="length" data-value="${passwordPolicies.length?c}">${msg("mcpRuleLength", passwordPolicies.length)}</li></#if>
            <#if passwordPolicies?? && passwordPolicies.upperCase??><li data-rule="upperCase" data-value="${passwordPolicies.upperCase?c}">${msg("mcpRuleUpper")}</li></#if>
            <#if passwordPolicies?? && passwordPolicies.lowerCase??><li data-rule="lowerCase" data-value="${passwordPolicies.lowerCase?c}">${msg("mcpRuleLower")}</li></#if>
            <#if passwordPolicies?? && passwordPolicies.digits??><li data-rule="digits" data-value="${passwordPolicies.digits?c}">${msg("mcpRuleDigit")}</li></#if>
            <#if passwordPolicies?? && passwordPolicies.specialChars??><li data-rule="specialChars" data-value="${passwordPolicies.specialChars?c}">${msg("mcpRuleSpecial")}</li></#if>
            <#if passwordPolicies?? && passwordPolicies.maxLength??><li data-rule="maxLength" data-value="${passwordPolicies.maxLength?c}">${msg("mcpRuleMax", passwordPolicies.maxLength)}</li></#if>
            <#-- the identifiant and the address the server compares with (issue 29: an empty value ticked the rule) -->
            <li data-rule="notUsername" data-value="${(username)!((auth.attemptedUsername)!'')}">${msg("mcpRuleNotUsername")}</li>
            <#if (user.email)?has_content>
            <li data-rule="notEmail" data-value="${user.email}">${msg("mcpRuleNotEmail")}</li>
            </#if>
            <li data-rule="match">${msg("mcpRuleMatch")}</li>
            <li data-rule="server"><#if (user.email)?has_content>${msg("mcpRuleHistoryOnly")}<#else>${msg("mcpRuleHistory")}</#if></li>
        </ul>
        </div>
        <form id="kc-passwd-update-form" class="${properties.kcFormClass!}" onsubmit="login.disabled = true; return true;" action="${url.loginAction}" method="post" novalidate="novalidate">
            <@field.password name="password-new" label=msg("passwordNew") fieldName="password" autocomplete="new-password" autofocus=true />
            <@field.password name="password-confirm" label=msg("passwordConfirm") autocomplete="new-password" />

            <div class="${properties.kcFormGroupClass!}">
                <@passwordCommons.logoutOtherSessions/>
            </div>

            <@buttons.actionGroup horizontal=true>
                <#if isAppInitiatedAction??>
                    <@buttons.button id="kc-submit" name="login" label="doSubmit"/>
                    <@buttons.button id="kc-cancel" label="doCancel" name="cancel-aia" type="secondary"/>
                <#else>
                    <@buttons.button id="kc-submit" name="login" label="mcpValidate"/>
                </#if>
            </@buttons.actionGroup>
        </form>
        <section id="mcp-security" aria-label="${msg('mcpSecurityHeading')}">
            ${kcSanitize(msg("mcpSecurityText"))?no_esc}
        </section>

        <@validator.templates/>
        <@validator.script field="password-new"/>
        <script type="module" src="${url.resourcesPath}/js/mcp-password.js"></script>
    </#if>
</@layout.registrationLayout>
